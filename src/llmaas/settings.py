"""Platform settings: environment variables (LLMAAS_*) over an optional TOML file over defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
    engine_threads: int = Field(2, ge=1, description="CPU threads per embedded engine process.")
    engine_base_port: int = Field(18100, description="First loopback port handed to embedded engines.")
    max_request_bytes: int = Field(32 * 1024 * 1024, description="Largest accepted request body.")
    max_audio_bytes: int = Field(25 * 1024 * 1024, description="Largest accepted audio upload.")
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
    guardrail_model: str = Field(
        "llmaas-prompt-guard",
        description="The catalog model that screens prompts for the guardrail policy (a moderation model); "
        "screening is skipped, with a warning at start, when the catalog has none of that name.",
    )
    guardrail_threshold: float | None = Field(
        None, ge=0, le=1,
        description="Prompt-injection score from which a prompt is flagged or blocked; unset, the model's "
        "own (0.5). Lower catches more and flags more innocent prompts (docs/guardrails.md).",
    )

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
