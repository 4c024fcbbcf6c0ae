"""localstripe, the local test Stripe: started in a thread for the tests, or in the foreground for the demo.

    python -m tests.servers.stripe --port 8420        # the demo's Stripe (`make run`), on 127.0.0.1

localstripe (pinned in requirements.txt) is a stateful fake of Stripe's API over real HTTP. Where it
differs from Stripe in a way the payment contract relies on, this module closes the gap, and only there:

- Idempotency: localstripe ignores `Idempotency-Key`. A middleware answers a repeated key as Stripe does:
  the first answer again (successes and card errors), or a 400 `idempotency_error` when the same key comes
  with other parameters. Keys are scoped per secret key, kept for the life of the server.
- Refunds: localstripe refunds beyond what is left of a charge; here that is Stripe's 400 `amount_too_large`,
  and refunding a PaymentIntent without a charge is a 400 `charge_not_refundable` (localstripe fails with 500).
- 3-D Secure: localstripe's `next_action` has an empty `stripe_js` and refuses `return_url`. Here the page
  is filled in (a small page of this server that completes or fails the authentication, as Stripe's test
  page does), and a `return_url` gives Stripe's `redirect_to_url` next action.
- Off-session authentication: Stripe's card 4000002760003184 always asks for 3-D Secure, and an off-session
  charge of it is declined (402, `authentication_required`, the PaymentIntent back to
  `requires_payment_method`, a `payment_intent.payment_failed` event); localstripe would wait for an
  authentication nobody is there to give. Here it is declined as Stripe does. The other 3-D Secure cards
  (4000002500003155, ...) keep localstripe's `requires_action`.

localstripe keeps one store per process, so there is one server per process: `start_localstripe` starts
it once and returns the same URL afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

from aiohttp import web
from localstripe import resources, server

HOST = "127.0.0.1"
TEST_SECRET_KEY = "sk_test_localstripe"  # noqa: S105 (localstripe accepts any sk_… key)
AUTHENTICATE_PATH = "/_config/authenticate/{id}"  # /_config/ needs no key at localstripe

_state: dict[str, object] = {"base_url": None, "return_url": None, "off_session": False, "patched": False}
ALWAYS_AUTHENTICATE = "4000002760003184"  # Stripe's "authentication required on all transactions" card
_lock = threading.Lock()
_answers: dict[tuple[str, str], tuple[str, bytes, int, bytes]] = {}


# -- the gaps between localstripe and Stripe --------------------------------------------------------------


def _stripe_error(status: int, message: str, **fields: str) -> web.Response:
    error = {"type": "invalid_request_error", "message": message, **fields}
    return web.json_response({"error": error}, status=status)


@web.middleware
async def _idempotency(request: web.Request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key or not request.path.startswith("/v1/"):
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    body = await request.read()
    seen = _answers.get(scope)
    if seen is not None:
        path, seen_body, status, answer = seen
        if (path, seen_body) != (request.path, body):
            return _stripe_error(400, f"Keys for idempotent requests can only be used with the same parameters "
                                      f"they were first used with. Try using a key other than '{key}' if you "
                                      f"meant to execute a different request.", type="idempotency_error")
        return web.Response(body=answer, status=status, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    response = await handler(request)
    # As Stripe: what the endpoint did is saved (a success, or a card error with its PaymentIntent);
    # a request refused before it acted is not, and may be sent again.
    if 200 <= response.status < 300 or response.status == 402:
        _answers[scope] = (request.path, body, response.status, response.body)
    return response


def _charge_of(charge: object, payment_intent: object):
    if isinstance(charge, str):
        return resources.store.get(f"charge:{charge}")
    if isinstance(payment_intent, str):
        intent = resources.store.get(f"payment_intent:{payment_intent}")
        if intent is not None and intent.latest_charge is None:
            raise resources.UserError(400, f"PaymentIntent {payment_intent} has no charge to refund.",
                                      {"code": "charge_not_refundable"})
        return intent.latest_charge if intent is not None else None
    return None


def _patch_refunds() -> None:
    refund_init = resources.Refund.__init__

    def __init__(self, charge=None, payment_intent=None, amount=None, metadata=None, **kwargs):  # noqa: N807
        paid = _charge_of(charge, payment_intent)
        wanted = resources.try_convert_to_int(amount)
        if paid is not None and type(wanted) is int and paid.status == "succeeded":
            left = paid.amount - paid.amount_refunded
            if wanted > left:
                raise resources.UserError(
                    400, f"Refund amount ({wanted}) is greater than unrefunded amount on charge ({left})",
                    {"code": "amount_too_large", "param": "amount"})
        refund_init(self, charge=charge, payment_intent=payment_intent, amount=amount, metadata=metadata, **kwargs)

    resources.Refund.__init__ = __init__


def _patch_authentication() -> None:
    intent_class = resources.PaymentIntent
    create = intent_class._api_create.__func__
    confirm = intent_class._confirm

    def _api_create(cls, return_url=None, **data):
        _state["return_url"] = return_url
        _state["off_session"] = resources.try_convert_to_bool(data.get("off_session")) is True
        try:
            return create(cls, **data)
        finally:
            _state["return_url"], _state["off_session"] = None, False

    def _confirm(self, on_failure_now):
        confirm(self, on_failure_now)
        if not self.next_action:
            return
        method = resources.PaymentMethod._api_retrieve(self.payment_method)
        if _state["off_session"] and getattr(method, "_card_number", None) == ALWAYS_AUTHENTICATE:
            _decline_for_authentication(self, on_failure_now)
            return
        self._return_url = _state["return_url"] or getattr(self, "_return_url", None)
        query = urllib.parse.urlencode({"client_secret": self.client_secret})
        page = f"{_state['base_url']}{AUTHENTICATE_PATH.format(id=self.id)}?{query}"
        if self._return_url:
            self.next_action = {"type": "redirect_to_url",
                                "redirect_to_url": {"url": page, "return_url": self._return_url}}
        else:
            self.next_action["use_stripe_sdk"]["stripe_js"] = page

    intent_class._api_create = classmethod(_api_create)
    intent_class._confirm = _confirm


def _decline_for_authentication(intent, on_failure_now) -> None:
    """Stripe's answer to an off-session charge the bank wants authenticated: a failed charge, a 402."""
    intent.next_action = None
    charge = resources.Charge(amount=intent.amount, currency=intent.currency, customer=intent.customer,
                              source=intent.payment_method)
    charge.payment_intent = intent.id
    charge.status = "failed"
    charge.failure_code = "authentication_required"
    charge.failure_message = "Your card was declined. This transaction requires authentication."
    intent.latest_charge = charge
    on_failure_now()  # the payment_intent.payment_failed event, then the card error


async def _authentication_page(request: web.Request) -> web.Response:
    intent = resources.PaymentIntent._api_retrieve(request.match_info["id"])
    secret = html.escape(request.query.get("client_secret", ""))
    amount = f"{intent.amount / 100:.2f} {intent.currency.upper()}"
    return web.Response(content_type="text/html", text=f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>3-D Secure (localstripe)</title></head>
<body><h1>Authenticate a payment of {html.escape(amount)}</h1>
<p>This page stands in for the card issuer's 3-D Secure page.</p>
<form method="post"><input type="hidden" name="client_secret" value="{secret}">
<button name="success" value="true">Complete authentication</button>
<button name="success" value="false">Fail authentication</button></form></body></html>""")


async def _authenticate(request: web.Request) -> web.Response:
    form = await request.post()
    intent = resources.PaymentIntent._api_authenticate(
        request.match_info["id"], client_secret=form.get("client_secret"), success=form.get("success") == "true")
    return_url = getattr(intent, "_return_url", None)
    if return_url:
        redirect_status = "succeeded" if intent.status in ("succeeded", "processing") else "failed"
        query = urllib.parse.urlencode({"payment_intent": intent.id, "redirect_status": redirect_status,
                                        "payment_intent_client_secret": intent.client_secret})
        raise web.HTTPSeeOther(f"{return_url}{'&' if '?' in return_url else '?'}{query}")
    return web.Response(content_type="text/html",
                        text=f"<!doctype html><p>Payment {html.escape(intent.id)}: {html.escape(intent.status)}</p>")


def _patch() -> web.Application:
    """Close localstripe's gaps in its app, once and before it runs."""
    app = server.app
    with _lock:
        if not _state["patched"]:
            app.middlewares.insert(0, _idempotency)
            app.router.add_get(AUTHENTICATE_PATH, _authentication_page)
            app.router.add_post(AUTHENTICATE_PATH, _authenticate)
            _patch_refunds()
            _patch_authentication()
            _state["patched"] = True
    return app


# -- running it ---------------------------------------------------------------------------------------


def _wait_until_answering(base_url: str, timeout: float = 15) -> None:
    request = urllib.request.Request(f"{base_url}/v1/customers?limit=1",
                                     headers={"Authorization": f"Bearer {TEST_SECRET_KEY}"})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (our own local server)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"localstripe did not answer at {base_url}") from None
            time.sleep(0.05)


def start_localstripe(port: int = 0, *, host: str = HOST) -> str:
    """Start localstripe in a background thread (once per process) and return its base URL."""
    with _lock:
        if _state["base_url"]:
            return str(_state["base_url"])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))  # bound here, so that a free port (0) is known before the server runs
        base_url = f"http://{host}:{sock.getsockname()[1]}"
        _state["base_url"] = base_url
    app = _patch()
    # A test run starts empty and keeps nothing: localstripe would pickle its whole store to
    # /tmp/localstripe.pickle at each write (shared with any other localstripe on the machine).
    resources.store.dump_to_disk = lambda: None

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        web.run_app(app, sock=sock, handle_signals=False, print=None, access_log=None, loop=loop)

    threading.Thread(target=serve, name="localstripe", daemon=True).start()
    _wait_until_answering(base_url)
    return base_url


def register_webhook(base_url: str, url: str, secret: str, *, webhook_id: str = "tally",
                     events: Iterable[str] | None = None) -> None:
    """Tell localstripe where to post its events and the secret to sign them with (it has no WebhookEndpoints)."""
    fields: list[tuple[str, str]] = [("url", url), ("secret", secret)]
    fields += [("events[]", event) for event in events or ()]
    request = urllib.request.Request(f"{base_url}/_config/webhooks/{urllib.parse.quote(webhook_id)}",
                                     data=urllib.parse.urlencode(fields).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own local server)
        if response.status != 200:
            raise RuntimeError(f"localstripe refused the webhook: {response.status}")


def get(base_url: str, path: str, params: dict[str, str] | None = None, *, key: str = TEST_SECRET_KEY) -> dict:
    """Read one of localstripe's resources as JSON (for tests: events, payment intents)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    request = urllib.request.Request(f"{base_url}{path}{query}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own local server)
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> None:
    """Run localstripe in the foreground on 127.0.0.1 (the demo's Stripe)."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers.stripe", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--from-scratch", action="store_true",
                        help="forget what an earlier run saved in /tmp/localstripe.pickle")
    args = parser.parse_args(argv)
    _state["base_url"] = f"http://{args.host}:{args.port}"
    if not args.from_scratch:
        resources.store.try_load_from_disk()  # localstripe's own persistence, as its own command does
    web.run_app(_patch(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
