"""The API's routers, one per resource."""

from vericlaim.api.routes import admin, buyers, catalogue, claims, health

ROUTERS = (health.router, admin.router, catalogue.router, buyers.router, claims.router)

__all__ = ["ROUTERS"]
