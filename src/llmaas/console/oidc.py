"""OpenID Connect sign-in: the authorization code flow with PKCE (authlib), and the ID token checked
(signature from the provider's keys, issuer, audience, expiry, nonce) before anyone is let in."""

from __future__ import annotations

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

SCOPES = "openid email groups"
_DISCOVERY_TTL_S = 300.0
_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, from a verified ID token."""

    email: str
    groups: object
    id_token: str


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
        if metadata.get("issuer") != issuer:
            raise AuthenticationFailed("The identity provider names another issuer.", code="provider_invalid")
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
        return Identity(email=email[:320], groups=claims.get(provider.groups_claim), id_token=id_token)

    async def logout_url(self, provider: IdentityProvider, *, id_token: str, return_to: str) -> str | None:
        """Where the provider ends its own session, when it offers that (RP-initiated logout)."""
        endpoint = (await self._metadata(provider.issuer)).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        return str(httpx.URL(endpoint, params={"id_token_hint": id_token,
                                               "post_logout_redirect_uri": return_to}))

    def _client(self, provider: IdentityProvider, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(client_id=provider.client_id, client_secret=provider.client_secret,
                                 scope=SCOPES, redirect_uri=redirect_uri, code_challenge_method="S256",
                                 timeout=self._timeout_s)


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
