"""The console's OpenID Connect client against a provider that says what a test makes it say: endpoints
it would have the gateway fetch elsewhere, e-mail claims that are not addresses, and sign-out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from llmaas.console.oidc import OidcClient
from llmaas.console.providers import IdentityProvider
from llmaas.errors import AuthenticationFailed
from tests.servers import serve

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
NONCE = "n-0123456789"


class Provider:
    """A discovery document (`overrides` replace its endpoints) and a token endpoint that signs an ID
    token with `claims` added."""

    def __init__(self) -> None:
        self.issuer = ""
        self.overrides: dict[str, Any] = {}
        self.claims: dict[str, Any] = {}

    def app(self) -> Starlette:
        async def discovery(_: Request) -> JSONResponse:
            return JSONResponse({
                "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "end_session_endpoint": f"{self.issuer}/session/end", **self.overrides})

        async def token(_: Request) -> JSONResponse:
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": "console", "sub": "u1", "nonce": NONCE, "iat": now,
                      "exp": now + 60, "email": "ada@acme.test", "groups": ["admins"], **self.claims}
            return JSONResponse({"access_token": "a", "token_type": "Bearer",
                                 "id_token": jwt.encode({"alg": "RS256", "kid": "k1"}, claims, KEY)})

        async def jwks(_: Request) -> JSONResponse:
            return JSONResponse({"keys": [KEY.as_dict(private=False)]})

        return Starlette(routes=[Route("/.well-known/openid-configuration", discovery),
                                 Route("/token", token, methods=["POST"]), Route("/jwks", jwks)])


@pytest.fixture
def provider() -> Iterator[Provider]:
    fake = Provider()
    with serve(fake.app()) as url:
        fake.issuer = url
        yield fake


def _identity_provider(issuer: str) -> IdentityProvider:
    return IdentityProvider(tenant_id=1, tenant="acme", issuer=issuer, client_id="console",
                            email_domains=("acme.test",), groups_claim="groups", admin_groups=("admins",),
                            viewer_groups=(), client_secret="s3cret")


def _sign_in(provider: Provider) -> Any:
    return asyncio.run(OidcClient().identity(
        _identity_provider(provider.issuer), redirect_uri="http://127.0.0.1/console/auth/callback",
        code="c", code_verifier="v" * 64, nonce=NONCE))


def test_a_provider_signs_someone_in(provider: Provider) -> None:
    identity = _sign_in(provider)
    assert (identity.email, identity.groups) == ("ada@acme.test", ["admins"])


@pytest.mark.parametrize("endpoint", ["token_endpoint", "jwks_uri", "authorization_endpoint"])
@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",  # another origin, in plain HTTP: the cloud's metadata
    "file:///etc/passwd",
    "https://" + "x" * 1000 + ".test/token",
    None,  # missing
])
def test_an_endpoint_the_gateway_would_fetch_elsewhere_refuses_the_provider(
    provider: Provider, endpoint: str, url: str | None
) -> None:
    provider.overrides[endpoint] = url
    with pytest.raises(AuthenticationFailed) as refused:
        _sign_in(provider)
    assert refused.value.code == "provider_invalid"
    assert endpoint in refused.value.message


@pytest.mark.parametrize("email", ["ada@other.test@acme.test", "ada\x00@acme.test", "ada\n@acme.test",
                                   "ada @acme.test", "@acme.test", "a" * 65 + "@acme.test", "ada",
                                   "ada\u202e@acme.test"])
def test_an_email_claim_that_is_not_an_address_is_refused(provider: Provider, email: str) -> None:
    provider.claims["email"] = email
    with pytest.raises(AuthenticationFailed) as refused:
        _sign_in(provider)
    assert refused.value.code == "email_invalid"


def test_sign_out_names_the_console_not_the_id_token(provider: Provider) -> None:
    client, idp = OidcClient(), _identity_provider(provider.issuer)
    url = asyncio.run(client.logout_url(idp, return_to="http://127.0.0.1/console/login"))
    assert url == (f"{provider.issuer}/session/end?client_id=console"
                   "&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%2Fconsole%2Flogin")


@pytest.mark.parametrize("url", ["http://elsewhere.test/logout", "javascript:alert(1)", 42])
def test_a_sign_out_endpoint_elsewhere_is_not_followed(provider: Provider, url: object) -> None:
    provider.overrides["end_session_endpoint"] = url
    idp = _identity_provider(provider.issuer)
    assert asyncio.run(OidcClient().logout_url(idp, return_to="http://127.0.0.1/console/login")) is None
    assert _sign_in(provider).email == "ada@acme.test"  # signing in still works: it is optional
