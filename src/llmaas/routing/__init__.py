"""Where a model's requests go: upstream pools, their health, and the choice of one upstream."""

from llmaas.routing.pool import Router, UpstreamPool, UpstreamTarget

__all__ = ["Router", "UpstreamPool", "UpstreamTarget"]
