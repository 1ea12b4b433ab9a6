"""The request pipeline: authenticate, check the model, route, relay, account."""

from llmaas.gateway.pipeline import Gateway

__all__ = ["Gateway"]
