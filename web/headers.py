"""Headers every response carries, whatever part of the app answered (API, files, static, admin, portal)."""

from __future__ import annotations

from flask import Flask, Response


def _no_sniffing(response: Response) -> Response:
    # A browser must take the declared type at its word: a JSON answer or a PDF is never run as a
    # script or shown as HTML, whatever a customer's name or a metadata value makes it look like.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register(app: Flask) -> None:
    app.after_request(_no_sniffing)
