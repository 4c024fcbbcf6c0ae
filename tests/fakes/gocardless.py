"""A fake of GoCardless's API on 127.0.0.1, for the tests and the demo: driven through the official SDK.

    python -m tests.fakes.gocardless --port 8422        # in the foreground (the demo)

No fake of GoCardless exists in the package registries, so this one answers the endpoints Tally uses as
GoCardless's public API reference describes them, and only those:

- API reference, core endpoints (developer.gocardless.com/api-reference): `POST/GET/PUT /customers[/{id}]`,
  `GET /customer_bank_accounts?customer=`, `GET /mandates?customer=`, `GET /mandates/{id}`,
  `POST /mandates/{id}/actions/cancel`, `POST/GET /payments[/{id}]`, `POST/GET /refunds[/{id}]`; billing requests:
  `POST/GET /billing_requests[/{id}]` (a `mandate_request`), `POST /billing_request_flows` (its
  `authorisation_url`, `redirect_uri`, `exit_uri`). Bodies and answers wrapped in the resource's name
  (`{"payments": {...}}`), lists with `meta.cursors`.
- "Making requests: idempotency keys" (api-reference/#making-requests-idempotency-keys): a create sent again with
  an `Idempotency-Key` already used answers 409 `invalid_state` with the reason `idempotent_creation_conflict` and
  `links.conflicting_resource_id` (the SDK then fetches that resource). Billing request flows take no key.
- "API usage: errors" (api-reference/#api-usage-errors): `{"error": {"type", "code", "message", "errors": [...],
  "documentation_url", "request_id"}}` with the types invalid_api_usage, invalid_state, validation_failed,
  gocardless; 401 without a valid bearer token.
- Payments and refunds (api-reference/#core-endpoints-payments, #core-endpoints-refunds): a payment starts
  `pending_submission`; `mandate_is_inactive` against a mandate that cannot be charged; a refund needs
  `total_amount_confirmation` (`total_amount_confirmation_invalid`), a confirmed or paid-out payment
  (`refund_payment_invalid_state`) and enough left (`available_refund_amount_insufficient`); metadata of up to
  3 keys.
- Webhooks ("Staying up-to-date with webhooks", developer.gocardless.com/getting-started/staying-up-to-date-with-
  webhooks, and api-reference/#appendix-webhooks): `POST` of `{"events": [...], "meta": {"webhook_id"}}`, several
  events per request, signed in `Webhook-Signature` (hex HMAC-SHA256 of the body with the endpoint's secret);
  event types of api-reference/#event-types (payments created/submitted/confirmed/paid_out/failed/cancelled/
  charged_back, refunds created/paid/refund_settled/failed, mandates created/active/cancelled, billing_requests
  fulfilled).
- Sandbox test bank details (developer.gocardless.com/getting-started/developer-tools/test-bank-details): any IBAN
  with a valid check sum (DE89 3704 0044 0532 0130 00) and UK sort code 200000 / account 55779911.

The fake's own choices (where GoCardless's sandbox behaves by time or by configuration):

- The hosted page (`/flow/<id>`) asks for the account holder and an IBAN (SEPA) or a sort code and account number
  (Bacs), as the scheme asks (both when the billing request names none); it creates the bank account and a mandate
  `pending_submission`, fulfils the billing request, sends the webhook and sends the payer to `redirect_uri`.
  Account holder `MANDATE_FAILS`: the mandate is created `failed` (as a bank refusing it would end).
- Time does not pass: a payment moves only when a test asks, `POST /_fake/payments/<id>/advance?to=STATUS`
  (submitted, confirmed, paid_out, failed, cancelled, charged_back): every step on the way is taken and their
  events are posted together in one webhook; `POST /_fake/refunds/<id>/advance?to=paid|failed` likewise.
- `POST /_fake/accounts` {access_token, webhook_secret, webhook_url} registers a token's webhook endpoint (the
  dashboard's job); `GET /_fake/webhooks?access_token=` lists what was sent (the exact body and the answer).

The server keeps its state per process; `start_gocardless` starts it once and returns the same URL afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import itertools
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
TEST_ACCESS_TOKEN = "sandbox_fake_gocardless_token"  # noqa: S105 (the fake accepts any token that is not empty)
IBAN_OK = "DE89370400440532013000"
SORT_CODE_OK, ACCOUNT_OK = "200000", "55779911"
HOLDER_MANDATE_FAILS = "MANDATE_FAILS"
SCHEME_CURRENCIES = {"sepa_core": "EUR", "bacs": "GBP"}
BANKS = {"sepa_core": "DEUTSCHE BANK AG", "bacs": "BARCLAYS BANK PLC"}
# The steps of a payment's life, in order; an advance takes every step up to the one asked for.
PAYMENT_PATH = ("pending_submission", "submitted", "confirmed", "paid_out")
PAYMENT_ENDS = {"failed": "submitted", "cancelled": "pending_submission", "charged_back": "paid_out"}
CAUSES = {"submitted": "payment_submitted", "confirmed": "payment_confirmed", "paid_out": "payment_paid_out",
          "failed": "insufficient_funds", "cancelled": "payment_cancelled", "charged_back": "payment_charged_back"}

_lock = threading.RLock()
_state: dict[str, object] = {"base_url": None}
_counter = itertools.count(1)
_resources: dict[str, dict[str, dict]] = {name: {} for name in (
    "customers", "customer_bank_accounts", "mandates", "billing_requests", "billing_request_flows", "payments",
    "refunds")}
_owners: dict[str, str] = {}  # resource id -> the access token that created it
_keys: dict[tuple[str, str, str], str] = {}  # (token, resource, Idempotency-Key) -> resource id
_accounts: dict[str, dict] = {}  # access token -> {webhook_secret, webhook_url}
_webhooks: list[dict] = []
_PREFIXES = {"customers": "CU", "customer_bank_accounts": "BA", "mandates": "MD", "billing_requests": "BRQ",
             "billing_request_flows": "BRF", "payments": "PM", "refunds": "RF", "events": "EV", "webhooks": "WB"}


def _id(kind: str) -> str:
    return f"{_PREFIXES[kind]}{next(_counter):010d}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def signature(body: bytes, secret: str) -> str:
    """GoCardless's `Webhook-Signature`: the hex HMAC-SHA256 of the body with the endpoint's secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iban_ok(iban: str) -> bool:
    iban = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban):
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


# -- errors in GoCardless's shape ----------------------------------------------------------------------------


def _error(status: int, error_type: str, message: str, errors: list[dict]) -> tuple[int, dict]:
    return status, {"error": {"type": error_type, "code": status, "message": message, "errors": errors,
                              "documentation_url": f"https://developer.gocardless.com/api-reference#{error_type}",
                              "request_id": f"REQ{next(_counter):010d}"}}


def _invalid(field: str, message: str, resource: str) -> tuple[int, dict]:
    return _error(422, "validation_failed", "Validation failed", [
        {"field": field, "message": message, "request_pointer": f"/{resource}/{field}"}])


def _state_error(reason: str, message: str, links: dict | None = None, status: int = 422) -> tuple[int, dict]:
    error = {"reason": reason, "message": message}
    if links:
        error["links"] = links
    return _error(status, "invalid_state", message, [error])


def _not_found(resource_id: str) -> tuple[int, dict]:
    return _error(404, "invalid_api_usage", "Resource not found", [
        {"reason": "resource_not_found", "message": f"Resource not found: {resource_id}"}])


# -- webhooks ---------------------------------------------------------------------------------------------------


def _event(resource_type: str, action: str, links: dict, cause: str, description: str, **details) -> dict:
    return {"id": _id("events"), "created_at": _now(), "resource_type": resource_type, "action": action,
            "links": links, "details": {"origin": "gocardless", "cause": cause, "description": description, **details},
            "metadata": {}}


def _send(token: str, events: list[dict]) -> None:
    """Record a webhook of these events and post it (in a thread: GoCardless posts after answering)."""
    account = _accounts.get(token)
    if not account or not events:
        return
    body = json.dumps({"events": events, "meta": {"webhook_id": _id("webhooks")}}, indent=2).encode()
    record = {"events": [f"{e['resource_type']}.{e['action']}" for e in events], "ids": [e["id"] for e in events],
              "links": [e["links"] for e in events], "body": body.decode(), "answer": None,
              "signature": signature(body, account["webhook_secret"])}
    with _lock:
        _webhooks.append({**record, "access_token": token})
    if account.get("webhook_url"):
        threading.Thread(target=_post, args=(account["webhook_url"], body, record), daemon=True).start()


def _post(url: str, body: bytes, record: dict) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Webhook-Signature": record["signature"],
        "Origin": "https://api.gocardless.com", "User-Agent": "gocardless-webhook-service/1.1"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (a test's own URL)
            answer = (response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as error:
        answer = (error.code, error.read().decode(errors="replace"))
    except OSError as error:
        answer = (0, str(error))
    with _lock:
        for sent in _webhooks:
            if sent["body"] == record["body"]:
                sent["answer"] = answer


# -- the API ----------------------------------------------------------------------------------------------------


def _mine(token: str, kind: str, resource_id: str) -> dict | None:
    found = _resources[kind].get(resource_id)
    return found if found is not None and _owners.get(resource_id) == token else None


def _metadata_error(resource: str, params: dict) -> tuple[int, dict] | None:
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict) or len(metadata) > 3:
        return _invalid("metadata", "must have at most 3 keys", resource)
    if any(len(str(k)) > 50 or not isinstance(v, str) or len(v) > 500 for k, v in metadata.items()):
        return _invalid("metadata", "keys must be at most 50 characters, values strings of at most 500", resource)
    return None


def _store(token: str, kind: str, resource: dict) -> dict:
    _resources[kind][resource["id"]] = resource
    _owners[resource["id"]] = token
    return resource


def _create_customer(token: str, params: dict) -> tuple[int, dict]:
    if not params.get("company_name") and not (params.get("given_name") and params.get("family_name")):
        return _invalid("given_name", "is required unless company_name is given", "customers")
    if (refused := _metadata_error("customers", params)) is not None:
        return refused
    customer = {"id": _id("customers"), "created_at": _now(), "email": params.get("email"),
                "given_name": params.get("given_name"), "family_name": params.get("family_name"),
                "company_name": params.get("company_name"), "country_code": params.get("country_code"),
                "language": params.get("language") or "en", "metadata": params.get("metadata") or {}}
    return 201, {"customers": _store(token, "customers", customer)}


def _update_customer(token: str, customer_id: str, params: dict) -> tuple[int, dict]:
    customer = _mine(token, "customers", customer_id)
    if customer is None:
        return _not_found(customer_id)
    if (refused := _metadata_error("customers", params)) is not None:
        return refused
    for field in ("email", "given_name", "family_name", "company_name", "country_code", "language", "metadata"):
        if field in params:
            customer[field] = params[field]
    return 200, {"customers": customer}


def _create_billing_request(token: str, params: dict) -> tuple[int, dict]:
    customer_id = (params.get("links") or {}).get("customer")
    if customer_id and _mine(token, "customers", customer_id) is None:
        return _invalid("links", "customer not found", "billing_requests")
    mandate_request = params.get("mandate_request")
    if not isinstance(mandate_request, dict):
        return _invalid("mandate_request", "is required (a payment request is not served by this fake)",
                        "billing_requests")
    scheme = mandate_request.get("scheme")
    if scheme is not None and scheme not in SCHEME_CURRENCIES:
        return _invalid("scheme", "is not supported by this creditor", "billing_requests")
    request = {"id": _id("billing_requests"), "created_at": _now(), "status": "pending",
               "mandate_request": {"scheme": scheme, "currency": mandate_request.get("currency"),
                                   "verify": mandate_request.get("verify") or "recommended", "links": {}},
               "metadata": params.get("metadata") or {}, "actions": [],
               "links": {"customer": customer_id or _id("customers"), "customer_billing_detail": _id("customers")}}
    return 201, {"billing_requests": _store(token, "billing_requests", request)}


def _create_flow(token: str, params: dict) -> tuple[int, dict]:
    request_id = (params.get("links") or {}).get("billing_request")
    if not request_id or _mine(token, "billing_requests", request_id) is None:
        return _invalid("links", "billing_request not found", "billing_request_flows")
    flow_id = _id("billing_request_flows")
    flow = {"id": flow_id, "created_at": _now(), "authorisation_url": f"{_state['base_url']}/flow/{flow_id}",
            "redirect_uri": params.get("redirect_uri"), "exit_uri": params.get("exit_uri"),
            "expires_at": (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "lock_customer_details": bool(params.get("lock_customer_details")),
            "lock_bank_account": bool(params.get("lock_bank_account")),
            "links": {"billing_request": request_id}}
    return 201, {"billing_request_flows": _store(token, "billing_request_flows", flow)}


def _list(token: str, kind: str, query: dict) -> tuple[int, dict]:
    found = [r for r in _resources[kind].values() if _owners.get(r["id"]) == token
             and (not query.get("customer") or (r.get("links") or {}).get("customer") == query["customer"])]
    limit = min(int(query.get("limit") or 50), 500)
    after = query.get("after")
    if after:
        ids = [r["id"] for r in found]
        found = found[ids.index(after) + 1:] if after in ids else []
    page = found[:limit]
    more = len(found) > limit
    return 200, {kind: page, "meta": {"cursors": {"before": None, "after": page[-1]["id"] if more else None},
                                      "limit": limit}}


def _cancel_mandate(token: str, mandate_id: str) -> tuple[int, dict]:
    mandate = _mine(token, "mandates", mandate_id)
    if mandate is None:
        return _not_found(mandate_id)
    if mandate["status"] in ("cancelled", "failed", "expired", "consumed", "blocked"):
        return _state_error("mandate_already_cancelled", "Mandate is already cancelled")
    mandate["status"] = "cancelled"
    _send(token, [_event("mandates", "cancelled", {"mandate": mandate_id, "customer": mandate["links"]["customer"]},
                         "mandate_cancelled", "The mandate was cancelled at your request.")])
    return 200, {"mandates": mandate}


def _create_payment(token: str, params: dict) -> tuple[int, dict]:
    mandate_id = (params.get("links") or {}).get("mandate")
    mandate = _mine(token, "mandates", mandate_id or "")
    if mandate is None:
        return _invalid("links", "mandate not found", "payments")
    amount = params.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        return _invalid("amount", "must be a positive integer (in the lowest denomination)", "payments")
    if params.get("currency") != SCHEME_CURRENCIES[mandate["scheme"]]:
        return _invalid("currency", f"must be {SCHEME_CURRENCIES[mandate['scheme']]} for a {mandate['scheme']} "
                        "mandate", "payments")
    if (refused := _metadata_error("payments", params)) is not None:
        return refused
    if mandate["status"] not in ("pending_customer_approval", "pending_submission", "submitted", "active"):
        return _state_error("mandate_is_inactive", "The mandate is no longer active")
    payment = {"id": _id("payments"), "created_at": _now(), "status": "pending_submission", "amount": amount,
               "amount_refunded": 0, "currency": params["currency"],
               "charge_date": (date.today() + timedelta(days=3)).isoformat(),
               "description": params.get("description"), "reference": params.get("reference"),
               "metadata": params.get("metadata") or {}, "retry_if_possible": True,
               "links": {"mandate": mandate_id, "creditor": "CR0000000001"}}
    _store(token, "payments", payment)
    _send(token, [_event("payments", "created", {"payment": payment["id"]}, "payment_created",
                         "Payment created via the API.")])
    return 201, {"payments": payment}


def _create_refund(token: str, params: dict) -> tuple[int, dict]:
    payment_id = (params.get("links") or {}).get("payment")
    payment = _mine(token, "payments", payment_id or "")
    if payment is None:
        return _invalid("links", "payment not found", "refunds")
    amount = params.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        return _invalid("amount", "must be a positive integer", "refunds")
    if (refused := _metadata_error("refunds", params)) is not None:
        return refused
    if payment["status"] not in ("confirmed", "paid_out"):
        return _state_error("refund_payment_invalid_state", "Refunds can only be created for payments that are "
                            "confirmed or paid out")
    if params.get("total_amount_confirmation") != payment["amount_refunded"] + amount:
        return _state_error("total_amount_confirmation_invalid", "The total_amount_confirmation does not match "
                            "the total amount refunded from this payment")
    if payment["amount_refunded"] + amount > payment["amount"]:
        return _state_error("available_refund_amount_insufficient", "The refund amount is more than what is left "
                            "of the payment")
    payment["amount_refunded"] += amount
    refund = {"id": _id("refunds"), "created_at": _now(), "amount": amount, "currency": payment["currency"],
              "status": "created", "reference": params.get("reference"), "metadata": params.get("metadata") or {},
              "links": {"payment": payment_id, "mandate": payment["links"]["mandate"]}}
    _store(token, "refunds", refund)
    _send(token, [_event("refunds", "created", {"refund": refund["id"], "payment": payment_id}, "refund_created",
                         "The refund has been created.")])
    return 201, {"refunds": refund}


def advance_payment(payment_id: str, to: str) -> tuple[int, dict]:
    """Move a payment to `to` through every step on the way, and post their events in one webhook."""
    with _lock:
        payment = _resources["payments"].get(payment_id)
        if payment is None:
            return _not_found(payment_id)
        target = PAYMENT_ENDS.get(to, to)
        if target not in PAYMENT_PATH:
            return _invalid("to", f"one of {PAYMENT_PATH[1:] + tuple(PAYMENT_ENDS)}", "payments")
        current = payment["status"]
        if current not in PAYMENT_PATH or PAYMENT_PATH.index(current) > PAYMENT_PATH.index(target):
            return _state_error("invalid_transition", f"a {current} payment cannot become {to}")
        steps = list(PAYMENT_PATH[PAYMENT_PATH.index(current) + 1:PAYMENT_PATH.index(target) + 1])
        if to in PAYMENT_ENDS:
            steps.append(to)
        events = []
        for step in steps:
            payment["status"] = step
            extra = {"scheme": _scheme_of(payment)}
            if step in ("failed", "charged_back"):
                extra.update(reason_code="AM04" if step == "failed" else "MD06", will_attempt_retry=False)
            description = {"failed": "The customer's bank account had insufficient funds.",
                           "charged_back": "The customer asked their bank to return the payment."}.get(
                step, f"The payment is {step.replace('_', ' ')}.")
            events.append(_event("payments", step, {"payment": payment_id}, CAUSES[step], description, **extra))
        _send(_owners[payment_id], events)
        return 200, {"payments": payment, "events": [e["id"] for e in events]}


def advance_refund(refund_id: str, to: str) -> tuple[int, dict]:
    """Settle a refund (`paid`: its paid and refund_settled events) or fail it, in one webhook."""
    with _lock:
        refund = _resources["refunds"].get(refund_id)
        if refund is None:
            return _not_found(refund_id)
        if refund["status"] != "created" or to not in ("paid", "failed"):
            return _state_error("invalid_transition", f"a {refund['status']} refund cannot become {to}")
        refund["status"] = to
        links = {"refund": refund_id, "payment": refund["links"]["payment"]}
        if to == "paid":
            events = [_event("refunds", "paid", links, "refund_paid", "The refund has been paid."),
                      _event("refunds", "refund_settled", links, "refund_settled", "The refund has been settled.")]
        else:
            payment = _resources["payments"][refund["links"]["payment"]]
            payment["amount_refunded"] -= refund["amount"]
            events = [_event("refunds", "failed", links, "refund_failed", "The refund could not be paid.")]
        _send(_owners[refund_id], events)
        return 200, {"refunds": refund, "events": [e["id"] for e in events]}


def _scheme_of(payment: dict) -> str:
    return _resources["mandates"][payment["links"]["mandate"]]["scheme"]


# -- the hosted billing-request flow ---------------------------------------------------------------------------

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>GoCardless (sandbox) - {title}</title>
</head><body><main><h1>{title}</h1><p>Set up a Direct Debit mandate{scheme}.</p>{error}
<form method="post" action="/flow/{flow_id}">
<label>Account holder name <input name="account_holder_name" required></label>
{fields}
<button type="submit">Set up Direct Debit</button></form></main></body></html>"""
_IBAN = '<label>IBAN <input name="iban"></label>'
_BACS = '<label>Sort code <input name="branch_code"></label><label>Account number <input name="account_number"></label>'


def _flow_page(flow: dict, error: str = "") -> str:
    scheme = _resources["billing_requests"][flow["links"]["billing_request"]]["mandate_request"]["scheme"]
    fields = {"sepa_core": _IBAN, "bacs": _BACS}.get(scheme, _IBAN + "<p>or</p>" + _BACS)
    label = {"sepa_core": " (SEPA Core)", "bacs": " (Bacs)"}.get(scheme, "")
    return _PAGE.format(title="Pay by bank debit", scheme=label, flow_id=html.escape(flow["id"]), fields=fields,
                        error=f'<p role="alert">{html.escape(error)}</p>' if error else "")


def _complete_flow(flow: dict, form: dict) -> str | None:
    """Create the bank account and the mandate the payer entered; the error to show, or None."""
    request = _resources["billing_requests"][flow["links"]["billing_request"]]
    if request["status"] != "pending":
        return "This request was already completed."
    holder = (form.get("account_holder_name") or "").strip()
    iban = (form.get("iban") or "").replace(" ", "").upper()
    branch = (form.get("branch_code") or "").replace("-", "").strip()
    account = (form.get("account_number") or "").strip()
    scheme = request["mandate_request"]["scheme"] or ("sepa_core" if iban else "bacs")
    if not holder:
        return "Enter the account holder's name."
    if scheme == "sepa_core" and not _iban_ok(iban):
        return "The IBAN is not valid."
    if scheme == "bacs" and not (re.fullmatch(r"\d{6}", branch) and re.fullmatch(r"\d{8}", account)):
        return "Enter a 6-digit sort code and an 8-digit account number."
    token = _owners[request["id"]]
    customer_id = request["links"]["customer"]
    bank_account = _store(token, "customer_bank_accounts", {
        "id": _id("customer_bank_accounts"), "created_at": _now(), "account_holder_name": holder,
        "account_number_ending": (iban or account)[-2:], "bank_name": BANKS[scheme],
        "country_code": iban[:2] if iban else "GB", "currency": SCHEME_CURRENCIES[scheme], "enabled": True,
        "account_type": None, "metadata": {}, "links": {"customer": customer_id}})
    status = "failed" if holder == HOLDER_MANDATE_FAILS else "pending_submission"
    mandate = _store(token, "mandates", {
        "id": _id("mandates"), "created_at": _now(), "scheme": scheme, "status": status,
        "reference": f"TALLY-{next(_counter):06d}", "next_possible_charge_date": (date.today() + timedelta(days=3))
        .isoformat(), "metadata": {}, "authorisation_source": "web", "payments_require_approval": False,
        "links": {"customer": customer_id, "customer_bank_account": bank_account["id"], "creditor": "CR0000000001"}})
    request["status"] = "fulfilled"
    request["mandate_request"]["links"] = {"mandate": mandate["id"]}
    request["links"]["mandate_request_mandate"] = mandate["id"]
    events = [_event("billing_requests", "fulfilled", {"billing_request": request["id"], "customer": customer_id,
                                                       "mandate_request_mandate": mandate["id"]},
                     "billing_request_fulfilled", "This billing request has been fulfilled."),
              _event("mandates", "created", {"mandate": mandate["id"], "customer": customer_id}, "mandate_created",
                     "Mandate created via a billing request.")]
    if status == "failed":
        events.append(_event("mandates", "failed", {"mandate": mandate["id"], "customer": customer_id},
                             "invalid_bank_details", "The bank refused the mandate."))
    _send(token, events)
    return None


# -- the server -------------------------------------------------------------------------------------------------

_CREATES = {"/customers": ("customers", _create_customer), "/billing_requests": ("billing_requests",
                                                                                 _create_billing_request),
            "/payments": ("payments", _create_payment), "/refunds": ("refunds", _create_refund)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, answer: dict) -> None:
        self._reply(status, json.dumps(answer).encode())

    def _route(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        path = parts.path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path.startswith("/_fake/") or path.startswith("/flow/"):
            with _lock:
                return self._page(path, query, raw)
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not token:
            return self._json(*_error(401, "invalid_api_usage", "Authentication failed", [
                {"reason": "missing_authorization_header", "message": "Authentication failed"}]))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._json(*_error(400, "invalid_api_usage", "Invalid document structure", [
                {"reason": "invalid_document_structure", "message": "Invalid document structure"}]))
        with _lock:
            return self._json(*self._api(token, path, query, body if isinstance(body, dict) else {}))

    def _api(self, token: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        method = self.command
        if method == "POST" and path in _CREATES:
            kind, create = _CREATES[path]
            params = body.get(kind)
            if not isinstance(params, dict):
                return _error(400, "invalid_api_usage", f"Missing envelope {kind}", [
                    {"reason": "missing_envelope", "message": f"the body must be {{\"{kind}\": {{...}}}}"}])
            key = self.headers.get("Idempotency-Key")
            if key and (token, kind, key) in _keys:
                return _state_error("idempotent_creation_conflict", "A resource has already been created with this "
                                    "idempotency key", {"conflicting_resource_id": _keys[(token, kind, key)]}, 409)
            status, answer = create(token, params)
            if key and status == 201:
                _keys[(token, kind, key)] = answer[kind]["id"]
            return status, answer
        if method == "POST" and path == "/billing_request_flows":
            params = body.get("billing_request_flows")
            return _create_flow(token, params if isinstance(params, dict) else {})
        cancel = re.fullmatch(r"/mandates/([^/]+)/actions/cancel", path)
        if method == "POST" and cancel:
            return _cancel_mandate(token, urllib.parse.unquote(cancel.group(1)))
        if method == "GET" and path in ("/mandates", "/customer_bank_accounts", "/payments", "/refunds",
                                        "/customers"):
            return _list(token, path.strip("/"), query)
        one = re.fullmatch(r"/(customers|mandates|payments|refunds|billing_requests|customer_bank_accounts)/([^/]+)",
                           path)
        if one and method in ("GET", "PUT"):
            kind, resource_id = one.group(1), urllib.parse.unquote(one.group(2))
            if method == "PUT" and kind == "customers":
                params = body.get("customers")
                return _update_customer(token, resource_id, params if isinstance(params, dict) else {})
            found = _mine(token, kind, resource_id)
            return (200, {kind: found}) if found else _not_found(resource_id)
        return _error(404, "invalid_api_usage", "Not found", [
            {"reason": "path_not_found", "message": f"{method} {path} is not served by this fake"}])

    def _page(self, path: str, query: dict, raw: bytes) -> None:
        if path == "/_fake/accounts" and self.command == "POST":
            config = json.loads(raw)
            _accounts[config["access_token"]] = {"webhook_secret": config["webhook_secret"],
                                                 "webhook_url": config.get("webhook_url")}
            return self._json(200, {"access_token": "…" + config["access_token"][-4:]})
        if path == "/_fake/webhooks" and self.command == "GET":
            token = query.get("access_token")
            return self._json(200, {"webhooks": [w for w in _webhooks if token in (None, w["access_token"])]})
        advance = re.fullmatch(r"/_fake/(payments|refunds)/([^/]+)/advance", path)
        if advance and self.command == "POST":
            act = advance_payment if advance.group(1) == "payments" else advance_refund
            return self._json(*act(advance.group(2), query.get("to", "")))
        flow = _resources["billing_request_flows"].get(path.removeprefix("/flow/"))
        if flow is None:
            return self._reply(404, b"<!doctype html><title>Not found</title><p>No such flow</p>",
                               "text/html; charset=utf-8")
        if self.command == "GET":
            return self._reply(200, _flow_page(flow).encode(), "text/html; charset=utf-8")
        error = _complete_flow(flow, dict(urllib.parse.parse_qsl(raw.decode())))
        if error:
            return self._reply(200, _flow_page(flow, error).encode(), "text/html; charset=utf-8")
        return self._reply(303, b"", "text/plain", headers={"Location": flow.get("redirect_uri") or "/"})

    do_GET = do_POST = do_PUT = _route  # noqa: N815 (http.server's names)


def _serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((HOST, port), _Handler)
    server.daemon_threads = True
    _state["base_url"] = f"http://{HOST}:{server.server_port}"
    return server


def start_gocardless(port: int = 0) -> str:
    """Start the fake in a thread once per process; its base URL (give it as the provider's api_base)."""
    with _lock:
        if _state["base_url"] is None:
            server = _serve(port)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return str(_state["base_url"])


def _call(base_url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the local fake)
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def register_account(base_url: str, access_token: str, webhook_secret: str, webhook_url: str | None = None) -> None:
    """Tell the fake a token's webhook endpoint and secret (GoCardless's dashboard does it there)."""
    _call(base_url, "/_fake/accounts", {"access_token": access_token, "webhook_secret": webhook_secret,
                                        "webhook_url": webhook_url})


def advance(base_url: str, kind: str, resource_id: str, to: str) -> dict:
    """Move a payment or refund on (`kind` payments or refunds): the fake posts the events in one webhook."""
    return _call(base_url, f"/_fake/{kind}/{urllib.parse.quote(resource_id)}/advance?to={to}", {})


def webhooks(base_url: str, access_token: str) -> list[dict]:
    """The webhooks the fake sent for a token, oldest first (`body` exactly as sent, `answer` [status, text])."""
    return _call(base_url, f"/_fake/webhooks?{urllib.parse.urlencode({'access_token': access_token})}")["webhooks"]


def complete_flow(authorisation_url: str, holder: str = "Acme Ltd", *, iban: str | None = IBAN_OK,
                  sort_code: str | None = None, account_number: str | None = None) -> str:
    """What a payer does on the hosted page, over HTTP (no browser): the mandate's id (its billing request's)."""
    form = {"account_holder_name": holder, "iban": iban or "", "branch_code": sort_code or "",
            "account_number": account_number or ""}
    request = urllib.request.Request(authorisation_url, data=urllib.parse.urlencode(form).encode(), method="POST")

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(_Stay)
    try:
        with opener.open(request, timeout=10) as response:  # a page again: the entry was refused
            raise ValueError(f"the flow refused the bank details: {response.read().decode()[:300]}")
    except urllib.error.HTTPError as error:
        if error.code != 303:
            raise
    flow_id = authorisation_url.rsplit("/", 1)[1]
    with _lock:
        request_id = _resources["billing_request_flows"][flow_id]["links"]["billing_request"]
        return _resources["billing_requests"][request_id]["links"]["mandate_request_mandate"]


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake of GoCardless's API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8422)
    arguments = parser.parse_args()
    server = _serve(arguments.port)
    print(f"GoCardless fake on {_state['base_url']}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
