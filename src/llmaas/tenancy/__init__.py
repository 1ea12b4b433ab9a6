"""Tenants (customer organisations) and tiers (plans): who may spend what."""

from llmaas.tenancy.tenants import TenantService
from llmaas.tenancy.tiers import TierService

__all__ = ["TenantService", "TierService"]
