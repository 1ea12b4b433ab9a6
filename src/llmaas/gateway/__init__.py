"""The request pipeline: authenticate, check the model, route, relay, account."""

from llmaas.gateway.pipeline import Gateway
from llmaas.gateway.serving import ServedCatalog

__all__ = ["Gateway", "ServedCatalog"]
