"""The demo's host product: "Acme Cloud", a SaaS dashboard on another origin that shows a Tally customer's widgets.

It is what docs/embedding.md asks of a developer, and nothing more: its backend asks Tally for an embed token with
the organization's API key (`POST /api/v1/customers/:id/embed_token`, over HTTP with `requests`), its page pastes
`<div data-tally-widget>` elements and Tally's `embed.js`, and `/embed-token` hands the page a fresh token when one
expires (`data-token-url`). It imports nothing of Tally: only HTTP between the two.

`make run` serves it on http://localhost:5001 while Tally is http://127.0.0.1:5000 (two origins, as in production);
`seed-demo` allows that origin to frame the demo organization's widgets and writes the API key it uses to
`instance/demo_host_key` (web/demo.py). Run alone:
`python -m web.demo_host --tally http://127.0.0.1:5000 --port 5001 --key-file instance/demo_host_key`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests  # a dependency of the stripe and gocardless-pro SDKs (requirements.txt pins them)
from flask import Flask, Response, jsonify, render_template_string

DEFAULT_PORT = 5001
DEFAULT_CUSTOMER = "lumen"  # web.demo.CUSTOMERS: Lumen Robotics, on the Pro plan
TIMEOUT = 5  # seconds for each call to Tally

# Each widget on the page: (widget, heading, theme, the card's own class).
WIDGETS = (
    ("usage", "Usage this period", "auto", "card card-wide"),
    ("bill", "Your bill so far", "auto", "card"),
    ("wallet", "Prepaid credits", "dark", "card card-dark"),
    ("invoices", "Invoices", "auto", "card card-wide"),
)


class TallyUnavailable(Exception):
    """Tally did not give a token (down, a revoked key, an unknown customer): said on the page."""


def create_demo_host(*, tally_url: str, api_key: str, customer: str = DEFAULT_CUSTOMER,
                     expires_in: int | None = None) -> Flask:
    """The host product's app: its dashboard (`/`) and its token endpoint (`/embed-token`) for `customer` (an
    external customer id) of the organization owning `api_key`; tokens last `expires_in` seconds (Tally's
    default, an hour, when None)."""
    tally_url = tally_url.rstrip("/")
    app = Flask(__name__)
    api = requests.Session()
    api.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
    customer_path = f"{tally_url}/api/v1/customers/{quote(customer, safe='')}"

    def embed_token() -> dict[str, Any]:
        body = {"embed": {"expires_in": expires_in}} if expires_in else {}
        try:
            answer = api.post(f"{customer_path}/embed_token", json=body, timeout=TIMEOUT)
        except requests.RequestException as error:
            raise TallyUnavailable(f"Tally does not answer at {tally_url} ({type(error).__name__}).") from None
        if answer.status_code != 200:
            raise TallyUnavailable(f"Tally refused the embed token: HTTP {answer.status_code} {answer.text[:200]}")
        return answer.json()["embed"]

    def customer_name() -> str:
        try:
            answer = api.get(customer_path, timeout=TIMEOUT)
            answer.raise_for_status()
            return answer.json()["customer"]["name"] or customer
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return customer

    @app.get("/")
    def dashboard():
        try:
            embed = embed_token()
        except TallyUnavailable as error:
            return render_template_string(PAGE, problem=str(error), widgets=(), token="", name=customer,
                                          script_url=f"{tally_url}/static/embed.js"), 503
        return render_template_string(PAGE, problem=None, widgets=WIDGETS, token=embed["token"],
                                      expires_at=embed["expires_at"], name=customer_name(),
                                      script_url=embed.get("script_url") or f"{tally_url}/static/embed.js")

    @app.get("/embed-token")
    def fresh_token():
        # NOTE: a real host checks here that its signed-in user is this customer (its own session), then asks Tally.
        try:
            embed = embed_token()
        except TallyUnavailable as error:
            response = jsonify(error=str(error))
            response.status_code = 502
        else:
            response = jsonify(token=embed["token"], expires_at=embed["expires_at"])
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/host.css")
    def stylesheet():
        return Response(STYLESHEET, mimetype="text/css")

    @app.get("/host.js")
    def script():
        return Response(SCRIPT, mimetype="text/javascript")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        return response

    return app


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Billing · Acme Cloud</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/host.css">
  <script src="/host.js" defer></script>
  <script src="{{ script_url }}" defer></script>
</head>
<body>
  <header class="top">
    <span class="brand"><span class="brand-mark" aria-hidden="true">▲</span> Acme Cloud</span>
    <nav aria-label="Account">
      <a href="/">Projects</a><a href="/">Team</a><a href="/" aria-current="page">Billing</a><a href="/">Settings</a>
    </nav>
    <span class="who">{{ name }}</span>
  </header>
  <main>
    <h1>Acme Cloud — your account</h1>
    <p class="lead">Your usage, bill and credits, live. Shown by Tally, inside this page.</p>
    {% if problem %}
      <p class="problem" role="alert">{{ problem }}</p>
    {% endif %}
    <div class="grid">
      {% for widget, heading, theme, classes in widgets %}
        <section class="{{ classes }}" aria-label="{{ heading }}">
          <div data-tally-widget="{{ widget }}" data-token="{{ token }}" data-theme="{{ theme }}"
               data-token-url="/embed-token" data-title="{{ heading }}"></div>
        </section>
      {% endfor %}
    </div>
    <p class="activity" aria-live="polite" data-activity></p>
  </main>
</body>
</html>
"""

SCRIPT = """// The host page's own script: tells the reader when a widget's token expired (embed.js renews it).
document.addEventListener("tally:expired", function (event) {
  var line = document.querySelector("[data-activity]");
  if (line) {
    line.textContent = "The " + event.detail.widget + " widget's link expired: a new one is on its way.";
  }
});
"""

STYLESHEET = """
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1c2230;
       background: #f3f4f8; }
.top { display: flex; align-items: center; gap: 24px; padding: 12px 32px; background: #111827; color: #e5e7eb; }
.brand { font-weight: 700; font-size: 17px; color: #fff; }
.brand-mark { color: #f59e0b; }
.top nav { display: flex; gap: 18px; flex: 1; }
.top nav a { color: #cbd2e0; text-decoration: none; }
.top nav a[aria-current] { color: #fff; border-bottom: 2px solid #f59e0b; }
.who { font-size: 13px; color: #cbd2e0; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { margin: 0 0 4px; font-size: 26px; }
.lead { margin: 0 0 24px; color: #4b5468; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 20px; align-items: start; }
.card { background: #fff; border: 1px solid #e3e6ee; border-radius: 10px; padding: 6px; min-width: 0;
        overflow: hidden; }
.card-wide { grid-column: 1 / -1; }
.card-dark { background: #14171f; border-color: #2a2f3b; }
.problem { padding: 12px 16px; border-radius: 8px; background: #fde8e8; color: #8a1c1c; }
.activity { min-height: 1.5em; margin-top: 16px; font-size: 13px; color: #4b5468; }
@media (prefers-color-scheme: dark) {
  body { color: #e8eaf0; background: #0b0d12; }
  .lead, .activity { color: #aab1c2; }
  .card { background: #14171f; border-color: #2a2f3b; }
}
@media (max-width: 700px) {
  .top { flex-wrap: wrap; gap: 8px 16px; padding: 10px 16px; }
  .top nav { order: 3; flex-basis: 100%; gap: 14px; overflow-x: auto; }
  main { padding: 20px 12px 40px; }
  h1 { font-size: 21px; }
  .grid { grid-template-columns: minmax(0, 1fr); gap: 14px; }
  .card { padding: 2px; }
}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.demo_host", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tally", default="http://127.0.0.1:5000", help="Tally's base URL")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (open it as http://localhost)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--key-file", default="instance/demo_host_key",
                        help="the demo organization's API key (written by seed-demo)")
    parser.add_argument("--customer", default=DEFAULT_CUSTOMER, help="the external id of the customer shown")
    args = parser.parse_args(argv)
    try:
        api_key = Path(args.key_file).read_text().strip()
    except OSError as error:
        print(f"demo host: no API key at {args.key_file} ({error.strerror}): run `flask seed-demo` first",
              file=sys.stderr)
        return 2
    from werkzeug.serving import make_server

    app = create_demo_host(tally_url=args.tally, api_key=api_key, customer=args.customer)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"demo host: http://localhost:{args.port} (widgets from {args.tally})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
