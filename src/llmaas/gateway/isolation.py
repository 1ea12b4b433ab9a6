"""Keeping each tenant's prompts from telling another anything through an engine's prompt cache.

Engines reuse the computed prefix of an earlier prompt (vLLM's prefix caching, llama.cpp's slots). A
reused prefix answers faster and is counted (`cached_tokens`, llama.cpp's `timings`), so a tenant could
check a guess of another tenant's system prompt a few tokens at a time. Each upstream says how it is
kept apart (the catalog's `cache_isolation`), and generation requests are shaped for it here:

- `salt`: the request carries `cache_salt`, one value per tenant; vLLM reuses a prefix only under the
  same salt, so a tenant keeps its own cache hits. The salt is an HMAC of the tenant's id under a server
  secret (`cache_salt_secret`): never the id itself, and no tenant can compute another's.
- `no_reuse`: `cache_prompt: false` (llama.cpp's server): no prefix is reused at all.
- `off`: nothing, for an upstream that serves one tenant or keeps no cache.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from llmaas.catalog.models import CacheIsolation


class CacheSalts:
    """Each tenant's `cache_salt`, derived once per tenant and replica.

        salts = CacheSalts("a secret every replica shares")
        salts.salt(42)     # the same 32 hex characters on every replica, for tenant 42 only
    """

    def __init__(self, secret: str | None) -> None:
        # Without a shared secret, each replica salts differently: still isolated, but a tenant's
        # cache hits stay on the replica that made them, and are lost on a restart.
        self._key = secret.encode() if secret else secrets.token_bytes(32)
        self._salts: dict[int, str] = {}  # one entry per tenant: as bounded as the tenants

    def salt(self, tenant_id: int) -> str:
        salt = self._salts.get(tenant_id)
        if salt is None:
            digest = hmac.new(self._key, f"llmaas-cache-salt:{tenant_id}".encode(), hashlib.sha256)
            salt = self._salts[tenant_id] = digest.hexdigest()[:32]
        return salt


def isolate(body: dict[str, Any], isolation: CacheIsolation, salt: str) -> dict[str, Any]:
    """`body` (a generation request for one upstream) with the fields its isolation needs."""
    if isolation == "salt":
        body["cache_salt"] = salt
    elif isolation == "no_reuse":
        body["cache_prompt"] = False
    return body
