"""OpenID Connect sign-in: the authorization code flow with PKCE (authlib), and the ID token checked
(signature from the provider's keys, issuer, audience, expiry, nonce) before anyone is let in."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from llmaas.console.providers import IdentityProvider
from llmaas.errors import AuthenticationFailed
from llmaas.observability.text import UNPRINTABLE

SCOPES = "openid email groups"
_DISCOVERY_TTL_S = 300.0
_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")  # the flow needs each
_MAX_URL = 1000  # an endpoint
_MAX_LOGOUT_URL = 2000  # the session's column
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}")  # and printable (UNPRINTABLE)


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, from a verified ID token."""

    email: str
    groups: object


class OidcClient:
    """Talks to providers; their discovery documents are cached a few minutes."""

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self._timeout_s = timeout_s
        self._discovery: dict[str, tuple[dict[str, Any], float]] = {}

    async def _metadata(self, issuer: str) -> dict[str, Any]:
        cached = self._discovery.get(issuer)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.get(f"{issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                metadata: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError):
            raise AuthenticationFailed("Your identity provider cannot be reached; try again, or ask "
                                       "your administrator.", code="provider_unreachable") from None
        if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
            raise AuthenticationFailed("The identity provider names another issuer.", code="provider_invalid")
        # The gateway itself fetches the token and key endpoints, and sends people to the others: each
        # is https://, or on the issuer's own origin (a loopback issuer the operator allowed).
        for name in _ENDPOINTS:
            if not _endpoint_of(issuer, metadata.get(name)):
                raise AuthenticationFailed(f"The identity provider's {name} is not an https:// URL.",
                                           code="provider_invalid")
        if not _endpoint_of(issuer, metadata.get("end_session_endpoint")):
            metadata.pop("end_session_endpoint", None)  # optional: signing out then ends ours only
        self._discovery[issuer] = (metadata, time.monotonic() + _DISCOVERY_TTL_S)
        return metadata

    async def authorization_url(self, provider: IdentityProvider, *, redirect_uri: str, state: str,
                                code_verifier: str, nonce: str, login_hint: str) -> str:
        metadata = await self._metadata(provider.issuer)
        async with self._client(provider, redirect_uri) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"], state=state, code_verifier=code_verifier, nonce=nonce,
                login_hint=login_hint)
        return str(url)

    async def identity(self, provider: IdentityProvider, *, redirect_uri: str, code: str,
                       code_verifier: str, nonce: str) -> Identity:
        """Exchange the code and check the ID token it brings."""
        metadata = await self._metadata(provider.issuer)
        try:
            async with self._client(provider, redirect_uri) as client:
                token = await client.fetch_token(metadata["token_endpoint"], code=code,
                                                 code_verifier=code_verifier)
                keys = (await client.get(metadata["jwks_uri"])).json()
        except Exception:  # any failure of the exchange is one answer: the sign-in did not happen
            raise AuthenticationFailed("The identity provider refused the sign-in.",
                                       code="provider_refused") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise AuthenticationFailed("The identity provider sent no ID token.", code="provider_invalid")
        claims = _verified_claims(id_token, keys, issuer=provider.issuer, audience=provider.client_id,
                                  nonce=nonce)
        email = claims.get("email")
        if not isinstance(email, str) or claims.get("email_verified") is False:
            raise AuthenticationFailed("The identity provider gave no verified e-mail address.",
                                       code="email_missing")
        if not _EMAIL.fullmatch(email) or UNPRINTABLE.search(email):  # it names the person in the audit log
            raise AuthenticationFailed("The identity provider gave an e-mail address that is not one.",
                                       code="email_invalid")
        return Identity(email=email, groups=claims.get(provider.groups_claim))

    async def logout_url(self, provider: IdentityProvider, *, return_to: str) -> str | None:
        """Where the provider ends its own session, when it offers that (RP-initiated logout). The
        client id names the console, not the ID token: no token is kept after the sign-in."""
        endpoint = (await self._metadata(provider.issuer)).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        url = str(httpx.URL(endpoint, params={"client_id": provider.client_id,
                                              "post_logout_redirect_uri": return_to}))
        return url if len(url) <= _MAX_LOGOUT_URL else None

    def _client(self, provider: IdentityProvider, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(client_id=provider.client_id, client_secret=provider.client_secret,
                                 scope=SCOPES, redirect_uri=redirect_uri, code_challenge_method="S256",
                                 timeout=self._timeout_s)


def _endpoint_of(issuer: str, url: object) -> bool:
    if not isinstance(url, str) or len(url) > _MAX_URL:
        return False
    try:
        parsed, origin = httpx.URL(url), httpx.URL(issuer)
    except httpx.InvalidURL:
        return False
    same_origin = (parsed.scheme, parsed.host, parsed.port) == (origin.scheme, origin.host, origin.port)
    return bool(parsed.host) and (parsed.scheme == "https" or same_origin)


def new_verifier() -> str:
    return secrets.token_urlsafe(48)  # 64 characters: RFC 7636 asks for 43 to 128


def _verified_claims(id_token: str, keys: object, *, issuer: str, audience: str,
                     nonce: str) -> dict[str, Any]:
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=_ALGORITHMS)  # type: ignore[arg-type]
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer}, aud={"essential": True, "value": audience},
            nonce={"essential": True, "value": nonce}, exp={"essential": True}, sub={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError):
        raise AuthenticationFailed("The identity provider's ID token did not check out.",
                                   code="id_token_invalid") from None
    return dict(token.claims)
