"""Settings from the environment. Where the configuration file names the same setting,
the environment wins."""

from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.config import Config, load_config
from storage.clock import Clock
from storage.file_links import FileLinks, link_key
from storage.sealing import SecretBox, load_or_create_key_file
from storage.single_server import sqlite_file

DEFAULT_DATABASE_URL = "sqlite:///baton.db"
SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PUBLIC_URL = "http://localhost:8000"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=_env("BATON_DATABASE_URL"))
    config_path: Path | None = Field(None, validation_alias=_env("BATON_CONFIG"))
    secret_key: SecretStr | None = Field(None, validation_alias=_env("BATON_SECRET_KEY"))
    allow_private_callbacks: bool = Field(
        False, validation_alias=_env("BATON_ALLOW_PRIVATE_CALLBACKS")
    )
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(SLACK_API_URL, validation_alias=_env("BATON_SLACK_API_URL"))
    escalation_channel: str | None = Field(None, validation_alias=_env("BATON_ESCALATION_CHANNEL"))
    managers_channel: str | None = Field(None, validation_alias=_env("BATON_MANAGERS_CHANNEL"))
    log_level: str = Field("INFO", validation_alias=_env("BATON_LOG_LEVEL"))
    # The password for [smtp] username (email notifications).
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("BATON_SMTP_PASSWORD"))
    # Where platforms reach Baton: the start of the links to agents' files.
    public_url: AnyHttpUrl = Field(
        AnyHttpUrl(DEFAULT_PUBLIC_URL), validation_alias=_env("BATON_PUBLIC_URL")
    )

    def load_config(self) -> Config:
        return load_config(self.config_path)

    @property
    def sqlite_path(self) -> Path | None:
        return sqlite_file(self.database_url)

    @property
    def key_file(self) -> Path | None:
        """Where the key sealing stored secrets is kept when ``BATON_SECRET_KEY`` is not set:
        beside the embedded SQLite database (None on any other database)."""
        path = self.sqlite_path
        return None if path is None else path.with_name(path.name + ".key")

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for logging to mask."""
        held = (
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.secret_key,
            self.smtp_password,
        )
        return [s.get_secret_value() for s in held if s is not None]

    def secret_box(self) -> SecretBox:
        """The key that seals stored secrets."""
        return SecretBox(self.instance_key())

    def file_links(self, clock: Clock, ttl: timedelta) -> FileLinks:
        """Baton's links to agents' files, signed with a key derived from the instance's."""
        return FileLinks(str(self.public_url), link_key(self.instance_key()), clock, ttl)

    def instance_key(self) -> str:
        """``BATON_SECRET_KEY``, or on the embedded SQLite default a key file created beside
        the database."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.key_file
        if key_file is None:
            raise RuntimeError(
                "BATON_SECRET_KEY is required with this database: every replica must share "
                "the key that seals webhook secrets and signs file links (see README, "
                "Configuration)"
            )
        return load_or_create_key_file(key_file)
