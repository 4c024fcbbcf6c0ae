"""GET /health: JSON always; 200 when the database (and Redis, when configured) answer, else 503 naming what is down."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from billing import db

log = logging.getLogger(__name__)

blueprint = Blueprint("health", __name__)

# A Redis that does not answer must not hold the check (a load balancer gives up after a few seconds).
REDIS_TIMEOUT_SECONDS = 1.0


def _database_up() -> bool:
    for attempt in (1, 2):  # a pooled connection the server dropped fails once, then is replaced
        try:
            with db.engine().connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception as error:
            if attempt == 2 or not db.is_unavailable(error):
                log.warning("health: the database does not answer: %s", error)
                return False
    return False


def _redis_up(url: str) -> bool:
    from redis import Redis

    client = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        return bool(client.ping())
    except Exception as error:
        log.warning("health: Redis does not answer: %s", error)
        return False
    finally:
        client.close()


@blueprint.get("/health")
def health():
    settings = current_app.config["TALLY"]
    down = [] if _database_up() else ["database"]
    if settings.redis_url and not _redis_up(settings.redis_url):
        down.append("redis")
    if down:
        response = jsonify(status="unavailable", down=down)
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    else:
        response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response
