"""Lago's error format: {"status", "error", "code", "error_details"}; always JSON, never a 500 for bad input."""

from __future__ import annotations

import logging
from decimal import DecimalException

from flask import Blueprint, abort, jsonify, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from billing.errors import Conflict, NotAllowed, NotFound, ValidationFailed

log = logging.getLogger(__name__)


def error_response(status: int, error: str, code: str | None = None, details: object | None = None):
    body: dict[str, object] = {"status": status, "error": error}
    if code is not None:
        body["code"] = code
    if details is not None:
        body["error_details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def unauthorized():
    return error_response(401, "Unauthorized")


def bad_request(message: str):
    return error_response(400, f"BadRequest: {message}")


def register_error_handlers(blueprint: Blueprint) -> None:
    @blueprint.errorhandler(ValidationFailed)
    def _validation(error: ValidationFailed):
        return error_response(422, "Unprocessable Entity", "validation_errors", error.details)

    @blueprint.errorhandler(NotFound)
    def _not_found(error: NotFound):
        return error_response(404, "Not Found", error.code)

    @blueprint.errorhandler(Conflict)
    def _conflict(error: Conflict):
        return error_response(422, "Unprocessable Entity", error.code)

    @blueprint.errorhandler(NotAllowed)
    def _not_allowed(error: NotAllowed):
        return error_response(405, "Method Not Allowed", error.code)

    @blueprint.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code == 400:
            return bad_request(error.description or "bad request")
        return error_response(error.code or 500, error.name)

    @blueprint.errorhandler(DataError)
    @blueprint.errorhandler(OverflowError)
    @blueprint.errorhandler(DecimalException)
    def _out_of_range(error: Exception):
        # A last resort: a value the services' ranges (billing.validation) let through, that the
        # database refused (PostgreSQL's DataError: out of range, too long, NUL) or that overflowed
        # (SQLite's driver, decimal arithmetic). The unit of work has rolled back: nothing is
        # written, and the caller learns its input was refused, not that Tally broke.
        log.warning("a value out of range reached %s %s", request.method, request.path, exc_info=error)
        return error_response(422, "Unprocessable Entity", "validation_errors", {"base": ["value_is_out_of_range"]})

    @blueprint.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unexpected API error")
        return error_response(500, "Internal Server Error")


def is_api_path() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def register_routing_errors(blueprint: Blueprint) -> None:
    """App-wide: what no route matches answers Lago's JSON under /api, and NUL characters are refused.

    A blueprint's own handlers never see routing errors (no route, no blueprint), hence app level;
    other paths keep their usual pages.
    """

    @blueprint.before_app_request
    def _refuse_nul_characters():
        # NOTE: PostgreSQL's text cannot hold NUL (SQLite's can): refused in paths, query strings
        # and form fields alike, so that both databases answer the same.
        if "\x00" not in request.path and b"%00" not in request.query_string and not _nul_in_form():
            return None
        message = "NUL characters (%00) are not allowed in the path, query string or form fields"
        if is_api_path():
            return bad_request(message)
        abort(400, message)

    @blueprint.app_errorhandler(404)
    def _no_route(error: HTTPException):
        return error_response(404, "Not Found", "route_not_found") if is_api_path() else error

    @blueprint.app_errorhandler(405)
    def _wrong_method(error: MethodNotAllowed):
        if not is_api_path():
            return error
        response = error_response(405, "Method Not Allowed", "method_not_allowed")
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ()))
        return response


def unserved_nested_path():
    """Lago's JSON 404 for a path under a record that Tally does not serve (`/plans/p/charges/c`).

    A route whose last part takes a path (`/customers/<path:external_id>`, so that ids may hold an encoded
    `/`) would otherwise read such a path as an id. A `/` written as such in the request, not encoded as %2F,
    separates parts of the path: the request names a route Tally does not have.
    """
    rule = request.url_rule
    if rule is None or "<path:" not in rule.rule or not request.view_args:
        return None
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return None
    raw_path = raw.split("?", 1)[0]
    if raw_path.count("/") != request.path.count("/"):
        return None  # some `/` came encoded: an id that holds them
    if any("/" in str(value) for value in request.view_args.values()):
        return error_response(404, "Not Found", "route_not_found")
    return None


def _nul_in_form() -> bool:
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return False
    return any("\x00" in value for value in request.form.values())
