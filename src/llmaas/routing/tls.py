"""How the gateway verifies each https:// upstream: one SSLContext per distinct set of files."""

from __future__ import annotations

import ssl
from pathlib import Path

from llmaas.catalog import Upstream
from llmaas.catalog.catalog import CatalogError
from llmaas.errors import TLSConfigError
from llmaas.tls import client_context

# aiohttp's `ssl=` argument: a context for https://, True (its default checks) for plain http://.
UpstreamTLS = ssl.SSLContext | bool


class UpstreamContexts:
    """Builds the contexts for one catalog: upstreams that share their CA and client certificate share a
    context (and so aiohttp's connection pool for them). Built again with each router, so a catalog
    reload also reads rotated CA and client certificate files."""

    def __init__(self, *, default_ca_file: Path | None = None) -> None:
        self._default_ca_file = default_ca_file
        self._contexts: dict[tuple[Path | None, Path | None, Path | None], ssl.SSLContext] = {}

    def for_upstream(self, model_id: str, upstream: Upstream) -> UpstreamTLS:
        """CatalogError, naming the model and the upstream, when a file cannot be used."""
        if not upstream.url.startswith("https://"):
            return True
        files = (upstream.ca_file or self._default_ca_file, upstream.client_cert_file,
                 upstream.client_key_file)
        if files not in self._contexts:
            try:
                self._contexts[files] = client_context(
                    ca_file=files[0], cert_file=files[1], key_file=files[2])
            except TLSConfigError as error:
                raise CatalogError(f"model {model_id!r}, upstream {upstream.url}: {error}") from None
        return self._contexts[files]
