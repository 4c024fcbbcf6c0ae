"""The Lago-compatible REST API v1 (API.md §1): bearer-key auth, Lago's error format, one module per resource."""

from api.blueprint import api_blueprint

__all__ = ["api_blueprint"]
