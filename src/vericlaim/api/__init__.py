"""The HTTP API: ``create_app(settings)`` builds a FastAPI application on the service layer."""

from vericlaim.api.app import create_app

__all__ = ["create_app"]
