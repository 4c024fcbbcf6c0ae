"""Add-ons (list, create, edit, delete) and the customer page's one-off invoice form."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

import wording
from admin.audit_views import object_history
from admin.blueprint import admin_blueprint, organization_id, requested_page
from admin.confirmations import Confirmation, ask, confirmed, typed
from admin.customer_views import SECTION_OF_BLOCK, render_customer
from admin.forms import AddOnForm
from billing.catalog import add_ons
from billing.catalog.taxes import list_taxes
from billing.errors import BillingError, NotFound, ValidationFailed
from billing.invoicing.one_off import OneOffQuote, create_one_off_invoice, quote_one_off_invoice
from billing.money import format_money, to_major, to_minor_exactly
from billing.screens import catalog, overview
from web.htmx import is_htmx_request, render_page
from web.responses import refused_status, saved
from wording import notices

ADD_ONS_PAGE = "admin/add_ons.html"
ADD_ON_FORM_PAGE = "admin/add_on_form.html"
ADD_ON_DELETE_PAGE = "admin/add_on_delete.html"
FORM_FIELDS = ("name", "code", "amount", "amount_currency", "invoice_display_name", "description", "tax_codes")


# ---------------------------------------------------------------- the catalog


@admin_blueprint.get("/add-ons")
def add_on_list() -> ResponseReturnValue:
    page = add_ons.list_add_ons(organization_id=organization_id(), page=requested_page())
    return render_page(ADD_ONS_PAGE, "results", add_ons=page)


def _price_in_cents(text: str | None, currency: str | None) -> tuple[int | None, list[str]]:
    """The price typed in major units as minor units for the service (None: nothing typed), or its reasons.

    The plan editor's rule (`money.to_minor_exactly`): exact, never rounded; an unknown currency is the
    service's to report, the amount is still checked (2 decimals).
    """
    cents, problem = to_minor_exactly(text or "", currency or "")
    if problem is None:
        return cents, []
    return None, ["invalid_value" if problem == "not_a_number" else problem]


def _service_data(form: AddOnForm) -> tuple[dict[str, object], dict[str, list[str]]]:
    """The form as `create_add_on` / `update_add_on` data, and the reasons found here first."""
    currency = (form.amount_currency.data or "").strip().upper() or None
    cents, reasons = _price_in_cents(form.amount.data, currency)
    data: dict[str, object] = {
        "name": (form.name.data or "").strip(), "code": (form.code.data or "").strip(),
        "amount_cents": cents if cents is not None else "",  # "": nothing typed, the service says required
        "amount_currency": currency or "",
        "invoice_display_name": (form.invoice_display_name.data or "").strip(),
        "description": (form.description.data or "").strip(),
        "tax_codes": [code for code in form.tax_codes.data or [] if code],
    }
    return data, ({"amount": reasons} if reasons else {})


def _errors(details: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, codes in details.items():
        target = {"amount_cents": "amount"}.get(name, name)
        codes = codes if isinstance(codes, list) else [codes]
        errors.setdefault(target, []).extend(wording.add_on_reason(target, str(code)) for code in codes)
    return errors


def _render_form(form: AddOnForm, add_on, errors: dict[str, list[str]]) -> ResponseReturnValue:
    other = [f"{name}: {message}" for name, messages in errors.items() if name not in FORM_FIELDS
             for message in messages]
    taxes = list_taxes(organization_id=organization_id(), per_page=100).items
    return render_page(ADD_ON_FORM_PAGE, "add_on_form", status=refused_status() if errors else 200, form=form,
                       add_on=add_on, errors=errors, other_errors=other, taxes=taxes,
                       history=object_history(add_on.id) if add_on is not None and not is_htmx_request() else [])


def _saved(message: str) -> ResponseReturnValue:
    """After a save: back to the list, as a whole page (htmx is told to go there itself)."""
    flash(message)
    return saved(url_for("admin.add_on_list"))


def _save(form: AddOnForm, code: str | None) -> tuple[object | None, dict[str, list[str]]]:
    """Create or update; a price this form could not read is sent as missing (so nothing is saved and the
    service still reports every other field), and its own reason replaces the service's."""
    data, reasons = _service_data(form)
    try:
        if code is None:
            return add_ons.create_add_on(organization_id=organization_id(), data=data), {}
        return add_ons.update_add_on(organization_id=organization_id(), code=code, data=data), {}
    except ValidationFailed as failed:
        errors = _errors(failed.details)
    except NotFound as missing:  # an unknown tax code: the form only offers existing ones
        errors = {"tax_codes": [wording.add_on_reason("tax_codes", missing.code)]}
    for name, codes in reasons.items():
        errors[name] = [wording.add_on_reason(name, r) for r in codes]
    return None, errors


@admin_blueprint.route("/add-ons/new", methods=["GET", "POST"])
def add_on_new() -> ResponseReturnValue:
    form = AddOnForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        add_on, errors = _save(form, None)
        if add_on is not None:
            return _saved(notices.notice("add_on_created", name=add_on.name))
    elif request.method == "GET":
        form.amount_currency.data = catalog.default_currency(organization_id=organization_id())
    return _render_form(form, None, errors)


@admin_blueprint.route("/add-ons/<path:code>/edit", methods=["GET", "POST"])
def add_on_edit(code: str) -> ResponseReturnValue:
    current = add_ons.get_add_on(organization_id=organization_id(), code=code)
    form = AddOnForm() if request.method == "POST" else AddOnForm(data={
        "name": current.name, "code": current.code, "amount_currency": current.amount_currency,
        "amount": str(to_major(current.amount_cents, current.amount_currency)),
        "invoice_display_name": current.invoice_display_name or "", "description": current.description or "",
        "tax_codes": [t.code for t in current.taxes]})
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        add_on, errors = _save(form, code)
        if add_on is not None:
            return _saved(notices.notice("add_on_saved", name=add_on.name))
    return _render_form(form, current, errors)


@admin_blueprint.route("/add-ons/<path:code>/delete", methods=["GET", "POST"])
def add_on_delete(code: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST deletes (invoices already issued keep their lines)."""
    add_on = add_ons.get_add_on(organization_id=organization_id(), code=code)
    if request.method == "POST":
        add_ons.delete_add_on(organization_id=organization_id(), code=code)
        flash(notices.notice("add_on_deleted", name=add_on.name))
        return redirect(url_for("admin.add_on_list"), code=303)
    return render_template(ADD_ON_DELETE_PAGE, add_on=add_on)


# ---------------------------------------------------------------- one-off invoices (customer page)


@dataclass
class OneOffLine:
    """One line of the one-off invoice form, as typed."""

    add_on_code: str = ""
    units: str = ""
    unit_price: str = ""
    description: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class OneOffForm:
    """The customer page's one-off invoice form: its lines, currency, and what went wrong or right."""

    lines: list[OneOffLine] = field(default_factory=lambda: [OneOffLine()])
    currency: str = ""
    errors: list[str] = field(default_factory=list)
    notice: str | None = None
    currency_errors: list[str] = field(default_factory=list)
    confirm: Confirmation | None = None  # the question asked before issuing, naming the total


ONE_OFF_FIELDS = ("add_on_code", "units", "unit_price", "description", "currency")


def _typed_lines(form: MultiDict[str, str]) -> list[OneOffLine]:
    columns = [form.getlist(name) for name in ("add_on_code", "units", "unit_price", "description")]
    lines = [OneOffLine(*(column[i].strip() if i < len(column) else "" for column in columns))
             for i in range(max(len(c) for c in columns))] if any(columns) else []
    return [line for line in lines if line.add_on_code or line.units or line.unit_price or line.description]


def _fee_data(line: OneOffLine, currency: str | None) -> dict[str, object]:
    fee: dict[str, object] = {"add_on_code": line.add_on_code}
    if line.units:
        fee["units"] = line.units
    if line.description:
        fee["description"] = line.description
    if line.unit_price:
        cents, reasons = _price_in_cents(line.unit_price, currency)
        if reasons:
            line.errors.extend(wording.add_on_reason("unit_price", r) for r in reasons)
        fee["unit_amount_cents"] = cents if cents is not None else line.unit_price
    return fee


@admin_blueprint.get("/customers/<customer_id>/one-off-invoices/line")
def one_off_line(customer_id: str) -> ResponseReturnValue:
    """One more empty line for the form (htmx appends it)."""
    overview.customer_summary(organization_id=organization_id(), customer_id=customer_id)
    choices = add_ons.list_add_ons(organization_id=organization_id(), per_page=100).items
    return render_page(SECTION_OF_BLOCK["one_off_line"], "one_off_line", line=OneOffLine(), add_on_choices=choices)


def _typed_form(form: MultiDict[str, str]) -> OneOffForm:
    return OneOffForm(lines=_typed_lines(form) or [OneOffLine()],
                      currency=(form.get("currency") or "").strip().upper())


@admin_blueprint.get("/customers/<customer_id>/one-off-invoices")
def one_off_invoice_form(customer_id: str) -> ResponseReturnValue:
    """The form again, as typed (the question's Cancel carries the lines in its URL)."""
    return render_customer(customer_id, "one_off", one_off=_typed_form(request.args))


@admin_blueprint.post("/customers/<customer_id>/one-off-invoices")
def one_off_invoice_new(customer_id: str) -> ResponseReturnValue:
    """The first post checks the lines and asks, naming the total before taxes; the answer issues the invoice."""
    summary = overview.customer_summary(organization_id=organization_id(), customer_id=customer_id)
    state = _typed_form(request.form)
    currency = summary.currency or state.currency or None
    fees = [_fee_data(line, currency) for line in state.lines if line.add_on_code or line.units or line.unit_price]
    if not any(line.errors for line in state.lines):
        data = {"external_customer_id": summary.external_id, "currency": currency, "fees": fees}
        try:
            if not confirmed():
                quote = quote_one_off_invoice(organization_id=organization_id(), data=data)
                state.confirm = _question(customer_id, summary, quote)
                return render_customer(customer_id, "one_off", one_off=state)
            invoice = create_one_off_invoice(organization_id=organization_id(), data=data)
        except ValidationFailed as failed:
            _place(state, failed.details)
        except BillingError as refused:
            state.errors.append(wording.add_on_reason("fees", getattr(refused, "code", str(refused))))
        else:
            notice = notices.notice("invoice_issued", number=invoice.number,
                                  amount=format_money(invoice.total_amount_cents, invoice.currency))
            if not is_htmx_request():
                flash(notice)
                return redirect(url_for("admin.customer", customer_id=customer_id), code=303)
            response = render_customer(customer_id, "one_off", one_off=OneOffForm(notice=notice))
            response.headers["HX-Trigger"] = "invoices-changed"  # the invoice list reloads itself
            return response
    return render_customer(customer_id, "one_off", status=refused_status(), one_off=state)


def _question(customer_id: str, summary: overview.CustomerSummary, quote: OneOffQuote) -> Confirmation:
    fields = typed(*ONE_OFF_FIELDS)
    as_typed = url_for("admin.one_off_invoice_form", customer_id=customer_id,
                       **{name: [v for n, v in fields if n == name] for name in ONE_OFF_FIELDS})
    return ask("issue_one_off_invoice", action_url=url_for("admin.one_off_invoice_new", customer_id=customer_id),
               target="#one-off", cancel_url=as_typed, cancel_fragment_url=as_typed, fields=fields,
               amount=format_money(quote.subtotal_cents, quote.currency), customer=summary.name or summary.external_id)


def _place(state: OneOffForm, details: dict) -> None:
    """The service's reasons next to the line (`fees.N`) or the field they are about."""
    for name, reasons in details.items():
        if name.startswith("fees.") and name.split(".")[1].isdigit():
            index = int(name.split(".")[1])
            line = state.lines[index] if index < len(state.lines) else None
            items = reasons.items() if isinstance(reasons, dict) else [("line", reasons)]
            for field_name, codes in items:
                words = [wording.add_on_reason(field_name, str(code)) for code in codes]
                target = line.errors if line is not None else state.errors
                target.extend(f"{field_name.replace('_', ' ').capitalize()}: {w}" for w in words)
        elif name == "currency":
            state.currency_errors.extend(wording.add_on_reason("currency", str(code)) for code in reasons)
        else:
            state.errors.extend(f"{name}: {wording.add_on_reason(name, str(code))}" for code in reasons)
