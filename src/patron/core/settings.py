"""Typed settings (prefix ``PATRON_``); the embedded defaults need no configuration at all."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings read from the environment or ``.env``.

    ``PATRON_DATABASE_URL`` selects the database; the default is a SQLite file under ``./var/``
    so a laptop needs nothing installed. PostgreSQL URLs use the psycopg 3 driver, e.g.
    ``postgresql+psycopg://user@127.0.0.1:5432/patron``.
    """

    model_config = SettingsConfigDict(env_prefix="PATRON_", env_file=".env", extra="ignore")

    database_url: str = ""
    var_dir: Path = Path("var")
    secret_key: SecretStr = SecretStr("")
    reporting_currency: str = "CNY"
    default_timezone: str = "Asia/Shanghai"
    default_locale: str = "en"
    import_chunk_rows: int = Field(default=50_000, ge=100, le=200_000)
    host: str = "127.0.0.1"
    port: int = 8000
    # Cron expression per scheduled job, or "off" (JSON: {"scoring.analyze": "30 1 * * *"}).
    schedules: dict[str, str] = Field(default_factory=dict)
    # Ticket statuses in which SLA clocks stop counting (JSON list).
    sla_paused_statuses: list[str] = Field(default_factory=lambda: ["waiting_customer"])
    # Which ticket status may follow which (JSON {"new": ["open", ...], ...}); empty: the default.
    ticket_workflow: dict[str, list[str]] = Field(default_factory=dict)
    # New tickets go to an agent: least_loaded, round_robin or off (patron.desk.routing).
    desk_routing: str = "least_loaded"
    # Where links in outgoing mail point (the address customers reach this instance at);
    # empty: http://<host>:<port>.
    public_url: str = ""
    # Outgoing mail (patron.core.mail). No SMTP host: nothing is mailed (the links still show
    # on the pages). Security: "none", "starttls" or "tls" (implicit TLS, usually port 465).
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    # The sender of outgoing mail, e.g. "Acme Support <support@acme.example>".
    mail_from: str = "Patron <patron@localhost>"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'patron.db').as_posix()}"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def resolved_secret_key(self) -> str:
        """The session-signing key; generated once into ``var/secret.key`` when not configured."""
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.var_dir / "secret.key"
        if not path.exists():
            import secrets

            self.var_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
