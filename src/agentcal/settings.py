"""Process configuration: one flat settings object, read once from `AGENTCAL_*` variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything agentcal reads from its environment; every field is optional."""

    model_config = SettingsConfigDict(env_prefix="AGENTCAL_", extra="ignore")

    data_dir: Path = Path(".agentcal")
    database_url: str | None = None
    # Comma-separated; the first one encrypts, all of them decrypt (rotation).
    secret_keys: str | None = Field(default=None, repr=False)
    calcom_api_url: str = "https://api.cal.com"
    google_api_url: str = "https://www.googleapis.com/calendar/v3"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_client_id: str | None = None
    google_client_secret: str | None = Field(default=None, repr=False)
    redis_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    # How long a token, a bot's tools and a Cal.com user's event types are cached in
    # memory. This process's own changes apply at once; another replica's within this.
    cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Requests: a larger body is a 413 before it is read whole, larger headers a 431.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    # Rate limits, `limits` notation, `;` between limits, "off" for none. Per access
    # token on the management API; per bot on its tools and tool calls (a busy voice
    # bot makes a few calls per conversation). In memory per process, or shared by
    # every replica through Redis when `redis_url` is set.
    rate_limit_per_token: str = "50/second;1200/minute"
    rate_limit_per_bot: str = "20/second;600/minute"
    # Failed authentications (401s) per client address; past it, the address is refused.
    rate_limit_auth_failures: str = "20/second;300/minute"

    @field_validator("rate_limit_per_token", "rate_limit_per_bot", "rate_limit_auth_failures")
    @classmethod
    def _limits(cls, value: str) -> str:
        if value.strip().lower() not in ("", "off"):
            parse_many(value)  # ValueError names what it could not read
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+agentcal:///{(self.data_dir / 'agentcal.db').resolve()}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"
