"""Could not bill: the subscriptions the billing clock failed on, why and since when, and "Retry now", which asks
first (admin/confirmations.py), naming the subscription, its customer and the period it bills now."""

from __future__ import annotations

from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from admin.blueprint import admin_blueprint, organization_id
from admin.confirmations import Confirmation, ask, confirmed
from billing.clock import retry_failure
from billing.invoicing import failures
from web.htmx import is_htmx_request, render_page
from wording import BILLING_STEPS, notices
from wording.dates import day_text

FAILURES_PAGE = "admin/billing_failures.html"


@admin_blueprint.context_processor
def billing_failure_count() -> dict:
    """How many subscriptions could not be billed, for the badge in the navigation."""
    if not current_user.is_authenticated:
        return {}
    return {"billing_failure_count": failures.count_open_failures(organization_id=organization_id())}


def _render(*, notice: str | None = None, problem: str | None = None,
            question: Confirmation | None = None) -> ResponseReturnValue:
    return render_page(FAILURES_PAGE, "failures", items=failures.open_failures(organization_id=organization_id()),
                       step_words=BILLING_STEPS, notice=notice, problem=problem, retry_confirm=question,
                       oob=is_htmx_request())


@admin_blueprint.get("/billing-failures")
def billing_failure_list() -> ResponseReturnValue:
    return _render()


def _question(failure: failures.CouldNotBill) -> Confirmation:
    period = notices.billing_period(day_text(failure.period_from.date()) if failure.period_from else None,
                                    day_text(failure.period_to.date()) if failure.period_to else None)
    list_url = url_for("admin.billing_failure_list")
    return ask(f"retry_{failure.step}", action_url=url_for("admin.billing_failure_retry", failure_id=failure.id),
               target="#failures", cancel_url=list_url, cancel_fragment_url=list_url, about=failure.id,
               subscription=failure.subscription_name or failure.external_subscription_id,
               customer=failure.customer_name or failure.external_customer_id, period=period)


@admin_blueprint.post("/billing-failures/<failure_id>/retry")
def billing_failure_retry(failure_id: str) -> ResponseReturnValue:
    """Asks first; the answer retries. A failure resolved meanwhile (another tab, a later run) is retried at once:
    `retry_failure` finds nothing left to do (or a failure of another organization: 404)."""
    if not confirmed():
        waiting = [f for f in failures.open_failures(organization_id=organization_id()) if f.id == failure_id]
        if waiting:
            return _render(question=_question(waiting[0]))
    retried = retry_failure(organization_id=organization_id(), failure_id=failure_id)
    if retried.resolved:
        return _render(notice=notices.billing_retried(len(retried.invoices)))
    return _render(problem=notices.billing_failed_again(retried.reason))
