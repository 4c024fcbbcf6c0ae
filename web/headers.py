"""Headers every response carries, whatever part of the app answered (API, files, static, admin, portal)."""

from __future__ import annotations

import time

from flask import Flask, Response, g


def _no_sniffing(response: Response) -> Response:
    # A browser must take the declared type at its word: a JSON answer or a PDF is never run as a
    # script or shown as HTML, whatever a customer's name or a metadata value makes it look like.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _start_timing() -> None:
    g.request_started = time.perf_counter()


def _server_timing(response: Response) -> Response:
    # The time Tally spent on the request, from the first before_request to here (the body is rendered by then;
    # a streamed export's rows come after). Browsers show it in their network panel, and the benchmarks read it to
    # tell the server's time from the network's (bench/README.md). A cross-origin page cannot read it: no
    # Timing-Allow-Origin is sent.
    started = g.get("request_started")
    if started is not None:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def register(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timing)
    app.after_request(_no_sniffing)
    app.after_request(_server_timing)
