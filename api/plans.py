"""placeholder"""
from api.blueprint import api_blueprint  # noqa: F401
