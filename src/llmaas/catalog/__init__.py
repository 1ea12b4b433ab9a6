"""The model catalog: what the platform offers, what each model can do, and where it runs."""

from llmaas.catalog import lifecycle
from llmaas.catalog.catalog import Catalog, load_catalog
from llmaas.catalog.models import Capability, EmbeddedEngine, ModelEntry, Pricing, Upstream

__all__ = [
    "Capability",
    "Catalog",
    "EmbeddedEngine",
    "ModelEntry",
    "Pricing",
    "Upstream",
    "lifecycle",
    "load_catalog",
]
