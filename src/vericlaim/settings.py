"""Settings as data: each one has a name, a default and a help text.

Built by :func:`get_settings`, never at import time, from ``VERICLAIM_*``
environment variables.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEVELOPMENT_SECRETS", "Settings", "get_settings"]

DEVELOPMENT_CONSORTIUM_KEY = "vericlaim-development-consortium-key"
DEVELOPMENT_ENCRYPTION_KEYS = "dev:GflLwPXO8a6vRNIV4LBpGgwCVsDvdNGYyisuUKx9nuE="
DEVELOPMENT_WEBHOOK_SIGNING_KEY = "vericlaim-development-webhook-signing-key"
DEVELOPMENT_FRAUD_SIGNING_KEY = "ooCKGLdd9ZsJ9zY7DQNc/xh4vj0tquG9F/T/GAAVzOw="
DEVELOPMENT_SECRETS = {
    "consortium_key": DEVELOPMENT_CONSORTIUM_KEY,
    "encryption_keys": DEVELOPMENT_ENCRYPTION_KEYS,
    "webhook_signing_key": DEVELOPMENT_WEBHOOK_SIGNING_KEY,
    "fraud_signing_key": DEVELOPMENT_FRAUD_SIGNING_KEY,
}
"""Secrets that are public (they are in this file): fine on a laptop, refused in production."""


class Settings(BaseSettings):
    """Vericlaim's settings; every field is documented in ``docs/settings.md``."""

    model_config = SettingsConfigDict(env_prefix="VERICLAIM_", extra="ignore")

    max_bytes: int = Field(
        default=200 * 1024 * 1024,
        description="Largest media file accepted, in bytes (videos included).",
    )
    max_pixels: int = Field(
        default=80_000_000,
        description="Largest image accepted, in pixels (width x height); guards against "
        "decompression bombs.",
    )
    max_video_seconds: float = Field(
        default=600.0, description="Longest video accepted, in seconds."
    )
    max_video_frames: int = Field(
        default=24, description="Most frames sampled from one video (scene changes first)."
    )
    analysis_side: int = Field(
        default=1024,
        description="Long side, in pixels, at which photos are decoded for comparison with "
        "references; regions are reported in full-resolution coordinates.",
    )

    environment: Literal["development", "production"] = Field(
        default="development",
        description="development or production; production refuses secrets left at their "
        "development defaults.",
    )
    data_dir: Path = Field(
        default=Path("vericlaim-data"),
        description="Folder for the default SQLite database and the content-addressed blob "
        "store (blobs/ab/cd/<sha256>).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy database URL; unset means SQLite at <data_dir>/vericlaim.db. "
        "PostgreSQL: postgresql+psycopg://user:password@host:5432/dbname.",
    )
    consortium_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_CONSORTIUM_KEY),
        description="Key of the HMAC-SHA256 that turns a buyer identifier into the keyed hash "
        "shared across platforms; every platform of a consortium uses the same key.",
    )
    encryption_keys: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_ENCRYPTION_KEYS),
        description="AES-256-GCM keys for buyer contact data, as id:base64key pairs separated "
        "by commas; the first encrypts, all decrypt (rotation: put the new key first).",
    )
    merchant_response_hours: float = Field(
        default=48.0, description="How long a merchant has to answer a claim, in hours."
    )
    suspicious_extension_hours: float = Field(
        default=24.0,
        description="Extra hours given to the merchant when the evidence looks manipulated or "
        "AI-generated (verdict likely_manipulated, likely_ai_generated or review).",
    )
    buyer_reshoot_hours: float = Field(
        default=48.0, description="How long a buyer has to send new photos when asked, in hours."
    )
    reviewer_first_response_hours: float = Field(
        default=24.0,
        description="Target for a reviewer's first action on a claim in review, in hours; "
        "missing it escalates the claim.",
    )
    reminder_lead_hours: float = Field(
        default=12.0,
        description="A reminder goes out this many hours before a merchant or buyer window "
        "closes (at half the window when the window is shorter).",
    )
    appeal_window_hours: float = Field(
        default=168.0,
        description="How long after a decision (or an automatic approval) an appeal is "
        "accepted, in hours; the claim closes when it ends.",
    )
    auto_approve_max_fen: int = Field(
        default=5_000,
        ge=0,
        description="Largest claim amount, in fen (CNY cents), that may be approved "
        "automatically when the policy recommends approval; 0 turns automatic approval off.",
    )
    fraud_escalation_fen: int = Field(
        default=300_000,
        ge=0,
        description="Amount of claims with confirmed fabricated evidence, in fen, from which a "
        "buyer is flagged for escalation (300000 fen = 3,000 CNY).",
    )
    job_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a worker holds an analysis job before another may take it over; "
        "a working worker renews it after every photo.",
    )
    job_max_attempts: int = Field(
        default=5, ge=1, description="Attempts at an analysis job before it fails for good."
    )
    job_retry_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Wait before retrying a failed analysis job; doubles with every attempt.",
    )

    max_request_bytes: int = Field(
        default=400 * 1024 * 1024,
        gt=0,
        description="Largest HTTP request body accepted by the API, in bytes (all files of "
        "one upload together); counted while the body streams in, 413 beyond it.",
    )
    workers: int = Field(
        default=2,
        ge=0,
        description="Analysis worker threads that `vericlaim serve` runs beside the API "
        "(0: none, run `vericlaim worker` separately).",
    )
    rate_limit_per_second: float = Field(
        default=20.0,
        ge=0,
        description="Requests per second allowed to one API key on average (token bucket, "
        "in memory, per process); 0 turns rate limiting off.",
    )
    rate_limit_burst: int = Field(
        default=60,
        ge=1,
        description="Requests one API key may send at once before the rate limit applies.",
    )
    webhook_signing_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_WEBHOOK_SIGNING_KEY),
        description="Key of the HMAC-SHA256 that signs webhook deliveries "
        "(X-Vericlaim-Signature); subscribers verify with the same key.",
    )
    webhook_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Webhook subscriber URL per tenant, as JSON: "
        '{"<tenant id>": "https://..."}; events of tenants without one are not sent.',
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Attempts at delivering one webhook event before it fails."
    )
    webhook_retry_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Wait before retrying a failed webhook delivery; doubles with every attempt.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time allowed to a subscriber to answer one delivery."
    )

    fraud_issuer: str = Field(
        default="vericlaim-development",
        min_length=1,
        max_length=100,
        description="This platform's name in the confirmed-fraud records it exports "
        "(`vericlaim fraud export`); unique within the consortium.",
    )
    fraud_signing_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_FRAUD_SIGNING_KEY),
        description="Ed25519 private key (the 32-byte seed, base64) that signs exported "
        "confirmed-fraud records; other platforms verify with its public key.",
    )
    fraud_key_id: str = Field(
        default="dev",
        min_length=1,
        max_length=100,
        description="Id of fraud_signing_key, written into every exported record; other "
        "platforms list the public key under this id in fraud_trusted_keys.",
    )
    fraud_trusted_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Ed25519 public keys (32 bytes, base64) accepted on import of "
        'confirmed-fraud records, by key id, as JSON: {"<key id>": "<base64>"}.',
    )

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Self:
        if self.environment != "production":
            return self
        left = [
            name
            for name, default in DEVELOPMENT_SECRETS.items()
            if getattr(self, name).get_secret_value() == default
        ]
        if left:
            variables = ", ".join(f"VERICLAIM_{name.upper()}" for name in left)
            raise ValueError(
                f"{', '.join(left)} left at the development default; set {variables} "
                "before running with environment=production"
            )
        return self

    def resolved_database_url(self) -> str:
        """``database_url``, or the SQLite file under ``data_dir`` when it is unset."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vericlaim.db').as_posix()}"


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides on top.

    Without overrides the result is reused until a ``VERICLAIM_*`` variable changes:
    validating settings costs more than decoding a small photo.
    """
    if overrides:
        return Settings(**overrides)  # type: ignore[arg-type]
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("VERICLAIM_")))
    return _from_environment(key)


@lru_cache(maxsize=4)
def _from_environment(key: tuple[tuple[str, str], ...]) -> Settings:
    return Settings()
