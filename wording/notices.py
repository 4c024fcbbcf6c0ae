"""What the admin says after an action: done (a notice above the page), or refused as a whole (the reasons
next to each input are in `wording.reasons`)."""

from __future__ import annotations

from wording.i18n import DEFAULT_LOCALE, N_, gettext, ngettext

NOTICES = {
    # the catalog: {name} is what the account manager named it
    "metric_created": N_("Metric “{name}” created."),
    "metric_saved": N_("Metric “{name}” saved."),
    "metric_deleted": N_("Metric “{name}” deleted."),
    "plan_created": N_("Plan “{name}” created."),
    "plan_saved": N_("Plan “{name}” saved."),
    "plan_deleted": N_("Plan “{name}” deleted."),
    "add_on_created": N_("Add-on “{name}” created."),
    "add_on_saved": N_("Add-on “{name}” saved."),
    "add_on_deleted": N_("Add-on “{name}” deleted."),
    "feature_created": N_("Feature “{name}” created."),
    "feature_saved": N_("Feature “{name}” saved."),
    "feature_deleted": N_("Feature “{name}” deleted: no plan or subscription has it any more."),
    "plan_features_saved": N_("What “{name}” includes was saved."),
    "subscription_features_saved": N_("The features of subscription {external_id} were saved."),
    "tax_created": N_("Tax “{name}” created."),
    "coupon_created": N_("Coupon “{name}” created."),
    # customers and webhook endpoints
    "customer_created": N_("Customer “{name}” created."),
    "customer_saved": N_("Customer “{name}” saved."),
    "webhook_endpoint_created": N_("Endpoint {url} added: it receives the webhooks from now on."),
    "webhook_endpoint_saved": N_("Endpoint {url} saved."),
    "webhook_endpoint_deleted": N_("Endpoint {url} deleted: nothing more is sent to it."),
    "webhook_test_sent": N_("Test webhook sent to {url}: its delivery is at the top of the log below."),
    # an invoice
    "invoice_refreshed": N_("Refreshed from the current usage."),
    "invoice_finalized": N_("Finalized: invoice {number} is issued to the customer."),
    "invoice_voided": N_("Voided: it keeps its number and is no longer due."),
    "credit_note_issued": N_("Credit note {number} issued."),
    "invoice_issued": N_("Invoice {number} issued: {amount}."),  # a one-off invoice, with its total
    # a customer's wallet
    "wallet_created": N_("Wallet created."),
    "wallet_settings_saved": N_("Wallet settings saved."),
    "credits_granted": N_("Credits granted."),
    "credits_voided": N_("Credits voided."),
    "top_up_awaits_payment": N_("Top-up recorded: its invoice is issued once paid."),
    "top_up_invoiced": N_("Top-up invoice issued: the credits arrive when it is paid."),
    "top_up_paid": N_("Top-up paid: its credits are in the balance."),
    "top_up_rules_saved": N_("Top-up rules saved."),
    "top_up_rules_removed": N_("Top-up rules removed."),
    "wallet_terminated": N_("Wallet terminated: its credits are voided."),
}

REFUSALS = {
    "check_the_form": N_("Check the form"),
    "form_has_errors": N_("The form has errors: see below."),
    "choose_a_coupon": N_("Choose a coupon"),
    "choose_a_transaction": N_("Choose grant, top up or void."),
    "top_up_not_waiting": N_("This top-up is no longer waiting for its payment."),
}

# An action that moves money or cannot be undone asks first (admin/confirmations.py): the question, naming the
# amount, and the button that answers it.
CONFIRMATIONS = {
    "refresh_invoice": (N_("Refresh draft {number} from the usage as it is now? Its total, {amount} now, is computed "
                           "again: late events, coupons, credits and taxes."), N_("Refresh the draft")),
    "finalize_invoice": (N_("Finalize draft {number} now, for {amount}? It is issued to the customer and collected; "
                            "it can no longer change."), N_("Finalize for {amount}")),
    "void_invoice": (N_("Void invoice {number} of {amount}? It keeps its number and is no longer due. This cannot "
                        "be undone."), N_("Void {amount}")),
    "mark_invoice_paid": (N_("Mark invoice {number} paid: {amount} received? Its credits go into the wallet. This "
                             "cannot be undone."), N_("Mark {amount} paid")),
    "retry_payment": (N_("Charge {amount} for invoice {number} to the customer's default payment method now?"),
                      N_("Charge {amount}")),
    "issue_credit_note": (N_("Issue a credit note of {amount} (taxes included) on invoice {number}: {refund} "
                             "refunded, {offset} off what it owes, {credit} credited to the next invoices? A credit "
                             "note cannot be withdrawn."), N_("Issue {amount}")),
    "request_payment_charge": (N_("Charge {amount} overdue to the customer's default payment method now? If the "
                                  "charge fails, they are emailed a link to pay."), N_("Charge {amount}")),
    "request_payment_email": (N_("Ask the customer to pay {amount} overdue now? They are emailed a link that pays "
                                 "the overdue invoices."), N_("Request {amount}")),
    "grant_credits": (N_("Grant {credits} free credits, worth {amount}, to {wallet}? No invoice is issued."),
                      N_("Grant {credits} credits")),
    "top_up": (N_("Top up {wallet} with {credits} credits: an invoice of {amount} to the customer?"),
               N_("Invoice {amount}")),
    "void_credits": (N_("Void {credits} credits, worth {amount}, from {wallet}? This cannot be undone."),
                     N_("Void {credits} credits")),
    "top_up_paid": (N_("Mark the top-up of {amount} paid? Its {credits} credits go into {wallet}. This cannot be "
                       "undone."), N_("Mark {amount} paid")),
    "terminate_wallet": (N_("Terminate {wallet}? Its balance of {amount} ({credits} credits) is voided. This cannot be "
                            "undone."), N_("Terminate and void {amount}")),
    "issue_one_off_invoice": (N_("Issue an invoice of {amount} before taxes to {customer} now? It is numbered, "
                                 "finalized and emailed at once: it can then only be voided or credited."),
                              N_("Issue {amount} + taxes")),
    # "Retry now" on Could not bill, per step of the billing clock ({period}: `billing_period`)
    "retry_billing": (N_("Bill {subscription} of {customer} now, for {period}? Its invoices are issued as the billing "
                         "clock would have issued them."), N_("Bill it now")),
    "retry_activation": (N_("Start {subscription} of {customer} now, as the billing clock would have? It then bills "
                            "as its plan says."), N_("Start it now")),
    "retry_ending": (N_("End {subscription} of {customer} now, as the billing clock would have? What it still owes "
                        "is invoiced."), N_("End it now")),
}


def confirmation(code: str, locale: str | None = DEFAULT_LOCALE, **values: object) -> tuple[str, str]:
    """The question asked before the action `code`, and its answer's button, with their {placeholders} filled."""
    question, answer = CONFIRMATIONS[code]
    return gettext(question, locale).format(**values), gettext(answer, locale).format(**values)


def notice(code: str, locale: str | None = DEFAULT_LOCALE, **values: object) -> str:
    """What an action did (`NOTICES`), with its {placeholders} filled."""
    text = gettext(NOTICES[code], locale)
    return text.format(**values) if values else text


def refusal(code: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """Why a form was refused as a whole (`REFUSALS`)."""
    return gettext(REFUSALS[code], locale)


def billing_period(first_day: str | None, last_day: str | None, locale: str | None = DEFAULT_LOCALE) -> str:
    """The period a failed billing was for, as days already written ("1 Nov 2026"), or what is due if none is known."""
    if first_day and last_day:
        return gettext("the period {first} – {last}", locale).format(first=first_day, last=last_day)
    return gettext("every period due", locale)


def billing_retried(invoices: int, locale: str | None = DEFAULT_LOCALE) -> str:
    """"Retry now" got a subscription through the billing clock: the invoices it issued, if any."""
    if invoices:
        issued = ngettext("%(num)d invoice issued", "%(num)d invoices issued", invoices, locale) % {"num": invoices}
    else:
        issued = gettext("nothing was due any more", locale)
    return gettext("Done: {issued}.", locale).format(issued=issued)


def billing_failed_again(reason: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """"Retry now" failed on the same subscription: why (the failure's own text, as recorded)."""
    return gettext("It failed again: {reason}", locale).format(reason=reason)
