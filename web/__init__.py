"""App assembly: configuration, extensions, blueprints, CLI commands and error pages."""

from web.app import create_app

__all__ = ["create_app"]
