"""Platform settings: environment variables (LLMAAS_*) over an optional TOML file over defaults."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MIN_ADMIN_TOKEN_LENGTH = 32
MIN_ADMIN_TOKEN_VARIETY = 10  # different characters: "a" * 32 is no secret


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMAAS_", extra="forbid")

    home: Path = Field(Path(".llmaas"), description="Where the platform keeps its state (SQLite database).")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "llmaas",
        description="Engine builds and bundled model files; shared by checkouts, safe to delete.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to a SQLite file under `home`."
    )
    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8000, description="Port the gateway listens on.")
    catalog_file: Path | None = Field(
        None, description="Model catalog (TOML); defaults to the bundled embedded catalog."
    )
    catalog_poll_interval_s: float = Field(
        5.0, gt=0, description="How often each replica checks the database for new catalog overrides."
    )
    deprecation_notice_months: int = Field(
        3, ge=0, description="Least notice between a model's deprecation and its retirement."
    )
    embedded: bool = Field(True, description="Start the embedded engines for models that declare one.")
    workers: int = Field(
        1, ge=1, description="Gateway processes serving the one port (the kernel spreads connections: "
        "SO_REUSEPORT); more than one needs `redis_url`, so that limits and budgets hold across them. "
        "Embedded engines are started once, by the parent process."
    )
    engine_threads: int = Field(2, ge=1, description="CPU threads per embedded engine process.")
    engine_base_port: int = Field(18100, description="First loopback port handed to embedded engines.")
    max_request_bytes: int = Field(32 * 1024 * 1024, description="Largest accepted request body.")
    max_audio_bytes: int = Field(25 * 1024 * 1024, description="Largest accepted audio upload.")
    max_audio_seconds: float = Field(
        3600.0, gt=0, description="Longest accepted audio upload, in seconds of audio."
    )
    max_request_head_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest accepted request line and headers together; a larger "
        "head is a 431 and its connection is closed."
    )
    request_head_timeout_s: float = Field(
        10.0, gt=0, description="How long a client may take to send a request's line and headers, from "
        "its connection's start or its previous response's end; then the connection is closed."
    )
    request_body_timeout_s: float = Field(
        120.0, gt=0, description="How long a client may take to send a request's body, from its head's "
        "end; then it is a 408 and the connection is closed."
    )
    max_images_per_request: int = Field(16, ge=0, description="Images one chat request may carry.")
    max_image_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest accepted image, decoded (or fetched) bytes."
    )
    max_image_bytes_per_request: int = Field(
        20 * 1024 * 1024, ge=1, description="Most image bytes (decoded) one chat request may carry in all."
    )
    # NoDecode: the environment gives a comma-separated list, not JSON.
    remote_image_hosts: Annotated[list[str], NoDecode] = Field(
        [], description="Hosts (exact names) whose http(s) image URLs the gateway fetches itself, bounded in "
        "bytes and time, and passes on inline; empty, remote image URLs are refused. Comma-separated in "
        "the environment."
    )
    remote_image_timeout_s: float = Field(
        10.0, gt=0, description="Longest the gateway spends fetching one remote image, redirects included."
    )
    upstream_timeout_s: float = Field(600.0, description="Longest an engine may take to answer.")
    drain_grace_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    max_in_flight_per_model: int = Field(
        256, ge=1, description="Requests one replica sends a model at once; more wait in its queue."
    )
    max_queued_per_model: int = Field(
        256, ge=0, description="Requests one replica holds for a model while all places are taken; "
        "more get a retryable 503 at once."
    )
    queue_timeout_s: float = Field(
        10.0, gt=0, description="How long a queued request waits for a place before a retryable 503."
    )
    health_interval_s: float = Field(2.0, description="How often upstream health is checked.")
    key_cache_ttl_s: float = Field(30.0, description="How long a key lookup is cached in memory.")
    admin_token: str | None = Field(
        None, description="Bearer token for /admin/api; the admin API is off without one."
    )
    redis_url: str | None = Field(
        None, description="Redis for rate limits and budgets shared by all gateway replicas."
    )
    ledger_flush_interval_s: float = Field(
        1.0, gt=0, description="How often usage is written; a crash loses at most this much."
    )
    usage_retention_days: int = Field(
        35, ge=1, description="Days raw usage events are kept before they fold into daily totals."
    )
    status_retention_days: int = Field(
        35, ge=31, description="Days the status page's per-minute health figures are kept (its longest "
        "window is 30 days)."
    )
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate chain: the gateway serves HTTPS (TLS 1.3 only) with it."
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of `tls_cert_file`.")
    behind_tls_proxy: bool = Field(
        False, description="Plain HTTP on a non-loopback address is allowed: a proxy in front terminates "
        "TLS, and its X-Forwarded-For / X-Forwarded-Proto headers are trusted from `trusted_proxies`."
    )
    # NoDecode: the environment gives a comma-separated list, not JSON.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1", "::1"], description="Addresses or networks (CIDR) whose forwarding headers are "
        "trusted, with `behind_tls_proxy`; comma-separated in the environment."
    )
    upstream_ca_file: Path | None = Field(
        None, description="CA bundle (PEM) that verifies https:// upstreams without a `ca_file` of their "
        "own; the system's CAs when unset."
    )

    cache_salt_secret: str | None = Field(
        None, description="Derives each tenant's engine `cache_salt`; random per process when unset."
    )
    auth_failure_burst: int = Field(
        20, ge=1, description="Failed authentications one client address may make at once before a 429."
    )
    auth_failures_per_minute: float = Field(
        30.0, gt=0, description="Failed authentications per minute an address may make after its burst."
    )

    guardrail_model: str = Field(
        "llmaas-prompt-guard",
        description="The catalog model that screens prompts for the guardrail policy (a moderation model); "
        "screening is skipped, with a warning at start, when the catalog has none of that name.",
    )
    guardrail_threshold: float | None = Field(
        None, ge=0, le=1,
        description="Prompt-injection score from which a prompt is flagged or blocked; unset, the model's "
        "own (0.55). Lower catches more and flags more innocent prompts (docs/guardrails.md).",
    )
    console_url: str | None = Field(
        None, description="The console's public base URL (`https://llm.example.com`): where identity "
        "providers send people back and login links point; defaults to the gateway's own address."
    )
    console_oidc_issuer: str | None = Field(
        None, description="The operator's OpenID Connect provider, for its staff; unset, only tenants' "
        "providers and login links open the console."
    )
    console_oidc_client_id: str | None = Field(None, description="The console's client id at that provider.")
    console_oidc_client_secret: str | None = Field(
        None, description="The console's client secret at that provider (never logged)."
    )
    console_operator_domains: Annotated[list[str], NoDecode] = Field(
        [], description="E-mail domains of the operator's staff, sent to the operator's provider; "
        "comma-separated in the environment."
    )
    console_groups_claim: str = Field("groups", description="ID-token claim with the staff's groups.")
    console_admin_groups: Annotated[list[str], NoDecode] = Field(
        ["llmaas-admins"], description="The operator's groups whose members are operator admins."
    )
    console_viewer_groups: Annotated[list[str], NoDecode] = Field(
        ["llmaas-viewers"], description="The operator's groups whose members are operator viewers."
    )
    console_loopback_issuers: bool = Field(
        False, description="Let tenants connect providers at http://127.0.0.1 or http://localhost (tests, "
        "demos); off, a tenant's issuer must be https://, so the gateway's loopback is not theirs to probe."
    )
    console_session_idle_minutes: float = Field(
        30, gt=0, description="A console session ends after this long without a request."
    )
    console_session_hours: float = Field(
        12, gt=0, description="A console session ends this long after sign-in, however active."
    )
    console_login_links: bool = Field(
        True, description="Allow break-glass links (`llmaas console login-link`) into the console."
    )
    console_login_link_minutes: float = Field(
        10, gt=0, le=60, description="How long a break-glass login link stays valid (used once)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="The gateway's log level; at DEBUG the engines' own output joins the log. Content "
        "(prompts, answers, audio, images) is never logged at any level (docs/security.md).",
    )

    @field_validator("trusted_proxies", "remote_image_hosts", "console_operator_domains",
                     "console_admin_groups", "console_viewer_groups", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        # uvicorn takes a malformed entry as a literal that never matches: refuse it here instead.
        try:
            return [str(ipaddress.ip_network(entry, strict=False)) if "/" in entry
                    else str(ipaddress.ip_address(entry)) for entry in value]
        except ValueError as error:
            raise ValueError(f"trusted_proxies: {error}") from None

    @field_validator("remote_image_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        return [host.lower().rstrip(".") for host in value]

    @property
    def admin_token_problem(self) -> str | None:
        """Why the admin token is too weak to serve with, or None: at least 32 characters, 10 of them
        different (`openssl rand -hex 32`)."""
        token = self.admin_token
        if token is None:
            return None
        if len(token) < MIN_ADMIN_TOKEN_LENGTH or len(set(token)) < MIN_ADMIN_TOKEN_VARIETY:
            return (f"LLMAAS_ADMIN_TOKEN is too weak: use at least {MIN_ADMIN_TOKEN_LENGTH} characters, "
                    f"{MIN_ADMIN_TOKEN_VARIETY} of them different (e.g. `openssl rand -hex 32`).")
        return None

    @property
    def workers_problem(self) -> str | None:
        """Why `workers` cannot be served with, or None: several workers need Redis."""
        if self.workers > 1 and not self.redis_url:
            return (f"{self.workers} workers need Redis (LLMAAS_REDIS_URL): without it each worker process "
                    "would hold rate limits and budgets of its own, and a key could spend its budget once "
                    "per worker. Configure redis_url, or serve with one worker.")
        return None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'llmaas.db').resolve()}"


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Read settings; `overrides` (from CLI flags) win over the environment, which wins over the file."""

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    given = {name: value for name, value in overrides.items() if value is not None}
    return Settings.model_validate(FileSettings(**given).model_dump())  # type: ignore[arg-type]
