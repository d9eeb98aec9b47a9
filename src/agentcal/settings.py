"""Process configuration: one flat settings object, read once from `AGENTCAL_*` variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
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

    @cached_property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+agentcal:///{(self.data_dir / 'agentcal.db').resolve()}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"
