"""A fake of Adyen's Checkout API on 127.0.0.1, for the tests and the demo: driven through the official SDK.

    python -m tests.fakes.adyen --port 8421        # in the foreground (the demo)

No fake of Adyen exists in the package registries, so this one answers the endpoints Tally uses as Adyen's
public documentation describes them, and only those:

- Checkout API v72 reference (docs.adyen.com/api-explorer/Checkout/72): `POST /paymentLinks`,
  `GET /paymentLinks/{linkId}`, `POST /payments`, `POST /payments/{paymentPspReference}/refunds`,
  `GET /storedPaymentMethods`, `DELETE /storedPaymentMethods/{storedPaymentMethodId}` (any `/vNN` prefix).
- Pay by Link (docs.adyen.com/unified-commerce/pay-by-link) and "Tokenization: create tokens with a payment
  link" (docs.adyen.com/online-payments/tokenization/create-and-use-tokens): the hosted page stores the card
  when the link has `storePaymentMethodMode: enabled` and a `shopperReference`, then sends the shopper back.
- API idempotency (docs.adyen.com/development-resources/api-idempotency): a request with an `Idempotency-Key`
  already seen (for the same API key) gets the first answer again.
- Error handling (docs.adyen.com/development-resources/response-handling): error bodies are
  `{"status", "errorCode", "message", "errorType", "pspReference"}`; 401 without a valid `X-API-Key`, 422 for a
  request Adyen cannot process.
- Webhooks (docs.adyen.com/development-resources/webhooks, .../webhooks/verify-hmac-signatures): standard
  notifications `{"live": "false", "notificationItems": [{"NotificationRequestItem": {...}}]}`, one item per
  request, each signed with the merchant's HMAC key (HMAC-SHA256 over
  `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`,
  base64, in `additionalData.hmacSignature`); the receiver answers `[accepted]`. AUTHORISATION for each
  payment, RECURRING_CONTRACT when a card is stored, REFUND for each refund.
- Test card numbers (docs.adyen.com/development-resources/testing/test-card-numbers) and raw test card data
  for encrypted fields (`encryptedCardNumber: "test_4111111145551142"`, ...:
  docs.adyen.com/development-resources/testing/encrypted-card-details... "test_" values).
- Result codes and refusal reasons (docs.adyen.com/development-resources/testing/result-codes): the holder
  name chooses the refusal, as on Adyen's test platform.

The fake's own choices (where Adyen's test platform behaves by configuration or asynchronously):

- Any Luhn-valid card number is accepted; 4111 1111 4555 1142 (Visa) is the usual one.
- Holder name `DECLINED`: refused at every authorisation, the zero-value one that stores it included
  (refusalReason "Refused"). Holder name `NOT_ENOUGH_BALANCE`: stored (a zero-value authorisation asks for no
  money), then refused at every charge ("Not enough balance"). Holder name `ERROR`: resultCode Error.
- 4212 3456 7891 0006 (Adyen's 3-D Secure 2 Visa): stored, then each charge answers RedirectShopper with a
  redirect action to this server's `/threeDS/<pspReference>` page.
- Each card stored is a new token, even the same card again for the same shopper (Adyen answers
  `tokenization.store.operationType: alreadyExisting` with the token it has).
- A refund beyond what is left of a payment, or of a payment not authorised, is refused at once (422,
  errorCode 137 "Invalid amount specified" / 167 "Original pspReference required for this operation"),
  where Adyen may accept it and send a failed REFUND notification later.
- Test-only endpoints (under `/_fake/`, no API key): `POST /_fake/merchants` {merchantAccount, hmacKey,
  webhookUrl} registers a merchant's HMAC key and notification URL (the Customer Area's job at Adyen);
  `GET /_fake/notifications?merchantAccount=` lists what was sent (the exact bytes, as text, and the answer).

The server keeps its state per process; `start_adyen` starts it once and returns the same URL afterwards.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import itertools
import json
import random
import re
import string
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
CARD_OK = "4111111145551142"
CARD_3DS = "4212345678910006"
HOLDER_DECLINED = "DECLINED"
HOLDER_NOT_ENOUGH_BALANCE = "NOT_ENOUGH_BALANCE"
HOLDER_ERROR = "ERROR"
TEST_API_KEY = "AQE_test_adyen_fake"  # noqa: S105 (the fake accepts any key that is not empty)
_SIGNED_FIELDS = ("pspReference", "originalReference", "merchantAccountCode", "merchantReference", "value",
                  "currency", "eventCode", "success")

_lock = threading.RLock()
_state: dict[str, object] = {"base_url": None}
_links: dict[str, dict] = {}
_payments: dict[str, dict] = {}  # pspReference -> payment (merchant, amount, refunded, result)
_stored: dict[tuple[str, str], list[dict]] = {}  # (merchant account, shopperReference) -> stored methods
_merchants: dict[str, dict] = {}  # merchant account -> {hmacKey, webhookUrl}
_notifications: list[dict] = []
_answers: dict[tuple[str, str], tuple[int, bytes]] = {}  # (API key, Idempotency-Key) -> first answer
_counter = itertools.count(1)


def _psp() -> str:
    # Adyen's pspReferences are 16 characters of capitals and digits.
    alphabet = string.ascii_uppercase + string.digits
    return "".join(random.choice(alphabet) for _ in range(12)) + f"{next(_counter) % 10_000:04d}"  # noqa: S311


def _luhn(number: str) -> bool:
    digits = [int(d) for d in number][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return len(number) >= 12 and total % 10 == 0


def _brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("51", "52", "53", "54", "55") or number.startswith("2"):
        return "mc"
    if number[:2] in ("34", "37"):
        return "amex"
    return "card"


def signature(item: dict, hmac_key: str) -> str:
    """Adyen's HMAC signature of a NotificationRequestItem, with a hex HMAC key."""
    amount = item.get("amount") or {}
    values = {**item, "value": amount.get("value", ""), "currency": amount.get("currency", "")}
    text = ":".join(str(values.get(name, "")) for name in _SIGNED_FIELDS)
    digest = hmac.new(bytes.fromhex(hmac_key), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def notification_body(item: dict, hmac_key: str) -> bytes:
    """A standard notification of one item, signed with `hmac_key`, as Adyen posts it."""
    signed = {**item, "additionalData": {**(item.get("additionalData") or {}),
                                         "hmacSignature": signature(item, hmac_key)}}
    return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": signed}]},
                      indent=2).encode()


# -- the server ---------------------------------------------------------------------------------------------


def _error(status: int, code: str, message: str, error_type: str = "validation") -> tuple[int, dict]:
    return status, {"status": status, "errorCode": code, "message": message, "errorType": error_type,
                    "pspReference": _psp()}


def _notify(merchant: str, event_code: str, *, psp: str, success: bool, amount: dict, reference: str = "",
            original: str = "", reason: str = "", additional: dict | None = None) -> None:
    """Record a notification and post it (in a thread: Adyen sends after answering)."""
    config = _merchants.get(merchant)
    if not config or not config.get("hmacKey"):
        return
    item = {"eventCode": event_code, "success": "true" if success else "false", "pspReference": psp,
            "merchantAccountCode": merchant, "merchantReference": reference, "amount": dict(amount),
            "eventDate": datetime.now(UTC).replace(microsecond=0).isoformat(), "reason": reason,
            "paymentMethod": "visa", "additionalData": dict(additional or {})}
    if original:
        item["originalReference"] = original
    body = notification_body(item, config["hmacKey"])
    record = {"merchantAccount": merchant, "eventCode": event_code, "pspReference": psp,
              "originalReference": original, "success": success, "body": body.decode(), "answer": None}
    with _lock:
        _notifications.append(record)
    url = config.get("webhookUrl")
    if url:
        threading.Thread(target=_post, args=(url, body, record), daemon=True).start()


def _post(url: str, body: bytes, record: dict) -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (a test's own URL)
            record["answer"] = (response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as error:
        record["answer"] = (error.code, error.read().decode(errors="replace"))
    except OSError as error:
        record["answer"] = (0, str(error))


def _card_of(payment_method: dict) -> tuple[str, str, str, str] | None:
    """(number, expiry month, expiry year, holder) of raw test card data, or None."""
    def raw(name: str) -> str:
        value = str(payment_method.get(f"encrypted{name}") or "")
        return value.removeprefix("test_")

    number = raw("CardNumber").replace(" ", "") or str(payment_method.get("number") or "").replace(" ", "")
    if not number:
        return None
    month = raw("ExpiryMonth") or str(payment_method.get("expiryMonth") or "")
    year = raw("ExpiryYear") or str(payment_method.get("expiryYear") or "")
    return number, month, year, str(payment_method.get("holderName") or "")


def _authorise(merchant: str, body: dict, *, card: tuple[str, str, str, str] | None, stored: dict | None,
               store: bool) -> tuple[int, dict]:
    """Authorise a payment: a new card (stored when asked) or a stored one; notifications follow."""
    amount = body.get("amount") or {}
    value = amount.get("value")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or not amount.get("currency"):
        return _error(422, "100", "No amount specified")
    if not body.get("reference"):
        return _error(422, "130", "Reference Missing")
    shopper = body.get("shopperReference") or ""
    if stored is not None:
        number, holder = stored["_number"], stored.get("holderName") or ""
    else:
        number, month, year, holder = card
        if not _luhn(number) or not number.isdigit():
            return _error(422, "101", "Invalid card number")
        if not (month.isdigit() and year.isdigit() and 1 <= int(month) <= 12):
            return _error(422, "129", "Expiry Date Invalid")
    psp = _psp()
    answer: dict = {"pspReference": psp, "merchantReference": body["reference"], "amount": dict(amount),
                    "paymentMethod": {"type": "scheme", "brand": _brand(number)}}
    refusal = None
    if holder == HOLDER_DECLINED:
        refusal = ("Refused", "Refused", "2")
    elif holder == HOLDER_NOT_ENOUGH_BALANCE and value > 0:
        refusal = ("Refused", "Not enough balance", "12")
    elif holder == HOLDER_ERROR:
        refusal = ("Error", "Acquirer Error", "4")
    if refusal:
        answer.update(resultCode=refusal[0], refusalReason=refusal[1], refusalReasonCode=refusal[2])
    elif number == CARD_3DS and value > 0:
        answer.update(resultCode="RedirectShopper", action={
            "type": "redirect", "method": "GET", "paymentMethodType": "scheme",
            "url": f"{_state['base_url']}/threeDS/{psp}"})
    else:
        answer["resultCode"] = "Authorised"
    _payments[psp] = {"merchant": merchant, "amount": dict(amount), "refunded": 0, "result": answer["resultCode"]}
    additional: dict = {}
    if answer["resultCode"] == "Authorised" and store and shopper and stored is None:
        method = {"id": _psp(), "type": "scheme", "brand": _brand(number), "lastFour": number[-4:],
                  "expiryMonth": card[1].zfill(2), "expiryYear": card[2] if len(card[2]) == 4 else f"20{card[2]}",
                  "holderName": holder, "name": _brand(number).upper(), "shopperEmail": body.get("shopperEmail"),
                  "supportedShopperInteractions": ["Ecommerce", "ContAuth"],
                  "supportedRecurringProcessingModels": ["UnscheduledCardOnFile", "CardOnFile"],
                  "_number": number}
        _stored.setdefault((merchant, shopper), []).append(method)
        additional = {"tokenization.storedPaymentMethodId": method["id"], "tokenization.shopperReference": shopper,
                      "tokenization.store.operationType": "created",
                      "recurring.recurringDetailReference": method["id"], "recurring.shopperReference": shopper}
        answer["additionalData"] = additional
    if answer["resultCode"] != "RedirectShopper":
        _notify(merchant, "AUTHORISATION", psp=psp, success=answer["resultCode"] == "Authorised", amount=amount,
                reference=body["reference"], reason=answer.get("refusalReason", ""),
                additional={**additional, "shopperReference": shopper} if shopper else additional)
    if additional:
        _notify(merchant, "RECURRING_CONTRACT", psp=additional["recurring.recurringDetailReference"], success=True,
                amount={"value": 0, "currency": amount["currency"]}, reference=body["reference"], original=psp,
                additional={"shopperReference": shopper})
    return 200, answer


def _payments_endpoint(body: dict) -> tuple[int, dict]:
    merchant = body.get("merchantAccount") or ""
    if not merchant:
        return _error(422, "901", "Invalid Merchant Account")
    method = body.get("paymentMethod") or {}
    stored_id = method.get("storedPaymentMethodId") or method.get("recurringDetailReference")
    if stored_id:
        shopper = body.get("shopperReference") or ""
        stored = next((m for m in _stored.get((merchant, shopper), []) if m["id"] == stored_id), None)
        if stored is None:
            return _error(422, "800", "Contract not found")
        return _authorise(merchant, body, card=None, stored=stored, store=False)
    card = _card_of(method)
    if card is None:
        return _error(422, "14_007", "Invalid payment method details")
    return _authorise(merchant, body, card=card, stored=None, store=bool(body.get("storePaymentMethod")))


def _refund(psp: str, body: dict) -> tuple[int, dict]:
    payment = _payments.get(psp)
    merchant = body.get("merchantAccount") or ""
    if payment is None or payment["merchant"] != merchant or payment["result"] != "Authorised":
        return _error(422, "167", "Original pspReference required for this operation")
    amount = body.get("amount") or {}
    value = amount.get("value")
    if (not isinstance(value, int) or isinstance(value, bool) or value <= 0
            or amount.get("currency") != payment["amount"]["currency"]
            or payment["refunded"] + value > payment["amount"]["value"]):
        return _error(422, "137", "Invalid amount specified")
    payment["refunded"] += value
    refund_psp = _psp()
    _notify(merchant, "REFUND", psp=refund_psp, success=True, amount=amount, reference=body.get("reference") or "",
            original=psp)
    return 201, {"merchantAccount": merchant, "paymentPspReference": psp, "pspReference": refund_psp,
                 "reference": body.get("reference"), "status": "received", "amount": dict(amount)}


def _payment_link(body: dict) -> tuple[int, dict]:
    merchant = body.get("merchantAccount") or ""
    if not merchant:
        return _error(422, "901", "Invalid Merchant Account")
    amount = body.get("amount") or {}
    if not isinstance(amount.get("value"), int) or not amount.get("currency"):
        return _error(422, "100", "No amount specified")
    if not body.get("reference"):
        return _error(422, "130", "Reference Missing")
    if body.get("storePaymentMethodMode") in ("enabled", "askForConsent") and not body.get("shopperReference"):
        return _error(422, "14_0417", "shopperReference is required when storing a payment method")
    link_id = "PL" + _psp()
    link = {**body, "id": link_id, "status": "active", "url": f"{_state['base_url']}/payByLink/{link_id}",
            "expiresAt": (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()}
    _links[link_id] = link
    return 201, link


def _stored_list(query: dict) -> tuple[int, dict]:
    merchant, shopper = query.get("merchantAccount", ""), query.get("shopperReference", "")
    if not merchant or not shopper:
        return _error(422, "14_0417", "shopperReference and merchantAccount are required")
    methods = [{k: v for k, v in m.items() if not k.startswith("_")} for m in _stored.get((merchant, shopper), [])]
    return 200, {"merchantAccount": merchant, "shopperReference": shopper, "storedPaymentMethods": methods}


def _stored_delete(method_id: str, query: dict) -> tuple[int, dict | None]:
    methods = _stored.get((query.get("merchantAccount", ""), query.get("shopperReference", "")), [])
    found = next((m for m in methods if m["id"] == method_id), None)
    if found is None:
        return _error(422, "800", "Contract not found")
    methods.remove(found)
    return 204, None


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Adyen (test) - {title}</title></head>
<body><main><h1>{title}</h1><p>{merchant} asks to save a card{amount}.</p>{error}
<form method="post" action="/payByLink/{link_id}">
<label>Card number <input name="number" autocomplete="cc-number" required></label>
<label>Expiry month <input name="expiryMonth" value="03" required></label>
<label>Expiry year <input name="expiryYear" value="2030" required></label>
<label>Security code <input name="cvc" value="737" required></label>
<label>Name on card <input name="holderName" value="J. Smith"></label>
<button type="submit">Pay</button></form></main></body></html>"""


def _link_page(link: dict, error: str = "") -> str:
    amount = link["amount"]
    return _PAGE.format(title="Save your card", merchant=html.escape(link["merchantAccount"]),
                        amount=f" ({amount['value']} {html.escape(amount['currency'])} minor units)"
                        if amount["value"] else "", link_id=html.escape(link["id"]),
                        error=f'<p role="alert">{html.escape(error)}</p>' if error else "")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, answer: dict | None) -> None:
        self._send(status, b"" if answer is None else json.dumps(answer).encode())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        path = parts.path
        raw = self._body()
        if path.startswith("/_fake/") or path.startswith("/payByLink/") or path.startswith("/threeDS/"):
            with _lock:
                return self._page(path, query, raw)
        api_key = self.headers.get("X-API-Key") or ""
        if not api_key:
            return self._json(*_error(401, "000", "HTTP Status Response - Unauthorized", "security"))
        match = re.match(r"^/v\d+(/.*)$", path)
        if not match:
            return self._json(*_error(404, "000", "Not found", "internal"))
        route = match.group(1)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._json(*_error(400, "702", "Unexpected input: could not parse JSON", "validation"))
        key = self.headers.get("Idempotency-Key")
        with _lock:
            if key and (api_key, key) in _answers:
                status, answer = _answers[(api_key, key)]
                return self._send(status, answer)
            status, answer = self._api(route, query, body)
            encoded = b"" if answer is None else json.dumps(answer).encode()
            if key and self.command == "POST" and status < 500:
                _answers[(api_key, key)] = (status, encoded)
        return self._send(status, encoded)

    def _api(self, route: str, query: dict, body: dict) -> tuple[int, dict | None]:
        method = self.command
        if method == "POST" and route == "/payments":
            return _payments_endpoint(body)
        if method == "POST" and route == "/paymentLinks":
            return _payment_link(body)
        if method == "GET" and route.startswith("/paymentLinks/"):
            link = _links.get(route.rsplit("/", 1)[1])
            return (200, link) if link else _error(422, "14_0200", "Payment link not found")
        refund = re.match(r"^/payments/([^/]+)/refunds$", route)
        if method == "POST" and refund:
            return _refund(urllib.parse.unquote(refund.group(1)), body)
        if method == "GET" and route == "/storedPaymentMethods":
            return _stored_list(query)
        if method == "DELETE" and route.startswith("/storedPaymentMethods/"):
            return _stored_delete(urllib.parse.unquote(route.rsplit("/", 1)[1]), query)
        return _error(404, "000", f"{method} {route} is not served by this fake", "internal")

    def _page(self, path: str, query: dict, raw: bytes) -> None:
        if path == "/_fake/merchants" and self.command == "POST":
            config = json.loads(raw)
            _merchants[config["merchantAccount"]] = {"hmacKey": config.get("hmacKey"),
                                                     "webhookUrl": config.get("webhookUrl")}
            return self._json(200, {"merchantAccount": config["merchantAccount"]})
        if path == "/_fake/notifications" and self.command == "GET":
            merchant = query.get("merchantAccount")
            found = [n for n in _notifications if merchant in (None, n["merchantAccount"])]
            return self._json(200, {"notifications": found})
        if path.startswith("/threeDS/"):
            return self._send(200, b"<!doctype html><title>3-D Secure (test)</title><p>Authenticate</p>",
                              "text/html; charset=utf-8")
        link = _links.get(path.removeprefix("/payByLink/"))
        if link is None:
            return self._send(404, b"<!doctype html><title>Not found</title><p>No such link</p>",
                              "text/html; charset=utf-8")
        if self.command == "GET":
            return self._send(200, _link_page(link).encode(), "text/html; charset=utf-8")
        if link["status"] != "active":
            return self._send(200, _link_page(link, "This link was already paid.").encode(), "text/html; charset=utf-8")
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        card = ((form.get("number") or "").replace(" ", ""), form.get("expiryMonth") or "",
                form.get("expiryYear") or "", form.get("holderName") or "")
        body = {"merchantAccount": link["merchantAccount"], "amount": link["amount"], "reference": link["reference"],
                "shopperReference": link.get("shopperReference"), "shopperEmail": link.get("shopperEmail")}
        store = link.get("storePaymentMethodMode") == "enabled"
        status, answer = _authorise(link["merchantAccount"], body, card=card, stored=None, store=store)
        if status != 200 or answer["resultCode"] != "Authorised":
            reason = answer.get("refusalReason") or answer.get("message") or answer.get("resultCode")
            return self._send(200, _link_page(link, f"Payment refused: {reason}").encode(),
                              "text/html; charset=utf-8")
        link["status"] = "completed"
        back = link.get("returnUrl") or "/"
        return self._send(303, b"", "text/plain", headers={"Location": back})

    do_GET = do_POST = do_DELETE = do_PATCH = _route  # noqa: N815 (http.server's names)


def _serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((HOST, port), _Handler)
    server.daemon_threads = True
    _state["base_url"] = f"http://{HOST}:{server.server_port}"
    return server


def start_adyen(port: int = 0) -> str:
    """Start the fake in a thread once per process; its base URL (give it as the provider's api_base)."""
    with _lock:
        if _state["base_url"] is None:
            server = _serve(port)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return str(_state["base_url"])


def register_merchant(base_url: str, merchant_account: str, hmac_key: str, webhook_url: str | None = None) -> None:
    """Tell the fake a merchant's HMAC key and notification URL (Adyen's Customer Area does it there)."""
    body = json.dumps({"merchantAccount": merchant_account, "hmacKey": hmac_key, "webhookUrl": webhook_url}).encode()
    request = urllib.request.Request(f"{base_url}/_fake/merchants", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (the local fake)
        pass


def notifications(base_url: str, merchant_account: str) -> list[dict]:
    """The notifications the fake sent for a merchant account, oldest first."""
    url = f"{base_url}/_fake/notifications?{urllib.parse.urlencode({'merchantAccount': merchant_account})}"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (the local fake)
        return json.loads(response.read())["notifications"]


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake of Adyen's Checkout API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8421)
    arguments = parser.parse_args()
    server = _serve(arguments.port)
    print(f"Adyen fake on {_state['base_url']} (Checkout API at {_state['base_url']}/v72)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
