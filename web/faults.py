"""What the web app does when the database drops a connection or cannot be reached: answer 503 with
`Retry-After` (Lago's JSON error under /api/v1, a plain page elsewhere), never a 500; a GET or HEAD is
tried once more first, on a fresh connection.

A restarted or failed-over PostgreSQL server ends every pooled connection: without this, each
request that was holding one failed with a 500. SQLAlchemy discards a connection that failed this
way (and the pool's other connections made before it), so the second try connects anew.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from api.errors import error_response
from billing import db

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
# Safe to run twice: they change nothing. A POST or PUT may have committed before the connection
# dropped (an event ingested, an invoice finalized): the client decides whether to send it again.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Plain HTML, no template: rendering one may itself reach for the database (the signed-in user).
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Briefly unavailable · Tally</title>
  <link rel="stylesheet" href="/static/css/app.css">
</head>
<body>
  <header class="topbar"><div class="wrap topbar-inner"><span class="brand">Tally</span></div></header>
  <main class="wrap" id="main">
    <section class="panel narrow centered">
      <h1>Tally is briefly unavailable</h1>
      <p class="muted">The database could not be reached. Try again in a moment.</p>
    </section>
  </main>
</body>
</html>
"""


def unavailable() -> Response:
    """503 with Retry-After: Lago's error format under the API, a short page elsewhere."""
    if request.path == "/api/v1" or request.path.startswith("/api/v1/"):
        response = error_response(503, "Service Unavailable", "database_unavailable")
    else:
        response = Response(_PAGE, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


class TallyFlask(Flask):
    """Flask, with a request that lost its database connection tried once more (GET, HEAD) or answered 503."""

    def preprocess_request(self) -> Any:
        return self._again_if_connection_lost(super().preprocess_request)

    def dispatch_request(self) -> Any:
        return self._again_if_connection_lost(super().dispatch_request)

    def handle_user_exception(self, e: Exception) -> Any:
        if db.is_unavailable(e):
            log.warning("database unavailable during %s %s: answered 503 (%s)", request.method, request.path,
                        str(e).splitlines()[0] if str(e) else type(e).__name__)
            return unavailable()
        return super().handle_user_exception(e)

    @staticmethod
    def _again_if_connection_lost(step: Callable[[], Any]) -> Any:
        try:
            return step()
        except Exception as error:
            if request.method not in IDEMPOTENT_METHODS or not db.is_unavailable(error):
                raise
            log.warning("database connection lost during %s %s: trying once more", request.method, request.path)
            return step()
