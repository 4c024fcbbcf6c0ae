"""/analytics: Lago's five reports (mrr, gross_revenue, invoiced_usage, overdue_balance, invoice_collection).

Each takes Lago's filters (`currency`, `months`, `external_customer_id`) and answers a list under the report's
plural root, without pages (Lago's analytics controllers render a plain collection).
"""

from __future__ import annotations

from datetime import date

from flask import jsonify, request

from api.blueprint import api_blueprint as bp
from api.common import organization_id
from billing.analytics import reports
from billing.analytics.months import read_filters


def _month(first: date) -> str:
    """A month as Lago writes it: the instant its first day begins (`2026-10-01T00:00:00Z`)."""
    return f"{first.isoformat()}T00:00:00Z"


def _answer(root: str, rows: list[dict]):
    return jsonify({root: rows})


@bp.get("/analytics/mrr")
def analytics_mrr():
    rows = reports.mrr(organization_id=organization_id(), filters=read_filters(request.args))
    return _answer("mrrs", [{"month": _month(row.month), "currency": row.currency, "amount_cents": row.amount_cents}
                            for row in rows])


@bp.get("/analytics/gross_revenue")
def analytics_gross_revenue():
    rows = reports.gross_revenue(organization_id=organization_id(), filters=read_filters(request.args))
    return _answer("gross_revenues", [{"month": _month(row.month), "currency": row.currency,
                                       "amount_cents": row.amount_cents, "invoices_count": row.invoices_count}
                                      for row in rows])


@bp.get("/analytics/invoiced_usage")
def analytics_invoiced_usage():
    rows = reports.invoiced_usage(organization_id=organization_id(), filters=read_filters(request.args))
    return _answer("invoiced_usages", [{"month": _month(row.month), "code": row.code, "currency": row.currency,
                                        "amount_cents": row.amount_cents} for row in rows])


@bp.get("/analytics/overdue_balance")
def analytics_overdue_balance():
    rows = reports.overdue_balance(organization_id=organization_id(), filters=read_filters(request.args))
    return _answer("overdue_balances", [{"month": _month(row.month), "currency": row.currency,
                                         "amount_cents": row.amount_cents, "lago_invoice_ids": list(row.invoice_ids)}
                                        for row in rows])


@bp.get("/analytics/invoice_collection")
def analytics_invoice_collection():
    rows = reports.invoice_collection(organization_id=organization_id(), filters=read_filters(request.args))
    return _answer("invoice_collections", [{"month": _month(row.month), "currency": row.currency,
                                            "payment_status": row.payment_status,
                                            "invoices_count": row.invoices_count, "amount_cents": row.amount_cents}
                                           for row in rows])
