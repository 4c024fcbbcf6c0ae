"""Lago's error format: {"status", "error", "code", "error_details"}; always JSON, never a 500 for bad input."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

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

    @blueprint.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unexpected API error")
        return error_response(500, "Internal Server Error")
