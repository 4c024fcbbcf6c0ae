"""Could not bill: the subscriptions the billing clock failed on, why and since when, and "Retry now"."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_login import current_user

from admin.blueprint import admin_blueprint, organization_id
from billing.clock import retry_failure
from billing.invoicing import failures
from web.htmx import is_htmx_request, render_page
from wording import BILLING_STEPS, notices

FAILURES_PAGE = "admin/billing_failures.html"


@admin_blueprint.context_processor
def billing_failure_count() -> dict:
    """How many subscriptions could not be billed, for the badge in the navigation."""
    if not current_user.is_authenticated:
        return {}
    return {"billing_failure_count": failures.count_open_failures(organization_id=organization_id())}


def _render(*, notice: str | None = None, problem: str | None = None) -> ResponseReturnValue:
    return render_page(FAILURES_PAGE, "failures", items=failures.open_failures(organization_id=organization_id()),
                       step_words=BILLING_STEPS, notice=notice, problem=problem, oob=is_htmx_request())


@admin_blueprint.get("/billing-failures")
def billing_failure_list() -> ResponseReturnValue:
    return _render()


@admin_blueprint.post("/billing-failures/<failure_id>/retry")
def billing_failure_retry(failure_id: str) -> ResponseReturnValue:
    retried = retry_failure(organization_id=organization_id(), failure_id=failure_id)
    if retried.resolved:
        return _render(notice=notices.billing_retried(len(retried.invoices)))
    return _render(problem=notices.billing_failed_again(retried.reason))
