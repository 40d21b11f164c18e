"""Settings read once at the edge (environment variables prefixed ASSAY_)."""

from __future__ import annotations

import getpass

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

STATE_DIR = ".assay"


class Settings(BaseSettings):
    """Where metadata and artifacts live, and who is acting.

    - ASSAY_DB_URL: SQLAlchemy URL of the metadata store (default: SQLite file in .assay/).
    - ASSAY_DB_URL_SECRET: instead, a secret reference to that URL (`file:/run/secrets/db-url` or
      `env:NAME`), so a URL with a password need not sit in the environment of every process.
    - ASSAY_ARTIFACTS_URL: fsspec URL of the artifact store (default: .assay/artifacts).
    - ASSAY_ACTOR: the identity recorded in the audit log (default: the OS user); its roles come
      from the spec's `access.users` (everyone is admin while none are declared).
    - ASSAY_API_KEY: act as an API key instead (CI and services): the key is verified against the
      store and its name and role are the identity.
    """

    model_config = SettingsConfigDict(env_prefix="ASSAY_", extra="ignore", frozen=True)

    db_url: str | None = Field(None, description="Metadata store URL (sqlite:///... or postgresql://...).")
    db_url_secret: str | None = Field(None, description="Secret reference to the metadata store URL.")
    artifacts_url: str | None = Field(None, description="Artifact store root (path or fsspec URL).")
    actor: str | None = Field(None, description="Who is acting (recorded in the audit log).")
    api_key: SecretStr | None = Field(None, description="An API key to act as (CI, services).")

    @property
    def actor_source(self) -> str:
        return "api-key" if self.api_key else "env" if self.actor else "os-user"

    def resolved_actor(self) -> str:
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


__all__ = ["STATE_DIR", "Settings"]
