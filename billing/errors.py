"""Errors raised by services; the web layers translate them to Lago's error format."""

from __future__ import annotations


class BillingError(Exception):
    """Base class of every error a service raises on purpose."""


class NotFound(BillingError):
    def __init__(self, resource: str, code: str | None = None):
        self.resource = resource
        self.code = code or f"{resource}_not_found"
        super().__init__(self.code)


class ValidationFailed(BillingError):
    """Bad input: `details` maps a field to a list of reason codes (Lago's error_details)."""

    def __init__(self, details: dict[str, list[str]] | dict[str, object]):
        super().__init__(f"validation_errors: {details}")
        self.details = details


class Conflict(BillingError):
    """The request contradicts the current state (e.g. a second invoice for one period)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class NotAllowed(BillingError):
    """The action is not allowed in the resource's current state (Lago's 405 `method_not_allowed`)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def require(condition: bool, field: str, reason: str, errors: dict[str, list[str]]) -> None:
    """Collect a validation reason for `field` when `condition` does not hold."""
    if not condition:
        errors.setdefault(field, []).append(reason)
