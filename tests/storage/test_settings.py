from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vericlaim.settings import get_settings
from vericlaim.storage.crypto import Keyring


def test_development_defaults_work_out_of_the_box() -> None:
    settings = get_settings(data_dir=Path("somewhere"))
    assert settings.environment == "development"
    assert settings.resolved_database_url() == "sqlite:///somewhere/vericlaim.db"
    assert Keyring.from_settings(settings).active_id == "dev"


@pytest.mark.parametrize(
    "left", ["consortium_key", "encryption_keys", "webhook_signing_key", "fraud_signing_key"]
)
def test_production_refuses_a_secret_left_at_its_development_default(left: str) -> None:
    real = {
        "consortium_key": "a real consortium key",
        "encryption_keys": "k1:" + "A" * 43 + "=",
        "webhook_signing_key": "a real webhook key",
        "fraud_signing_key": "B" * 43 + "=",
    }
    real.pop(left)
    with pytest.raises(ValidationError, match=left):
        get_settings(environment="production", **real)


def test_production_with_real_secrets_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERICLAIM_ENVIRONMENT", "production")
    monkeypatch.setenv("VERICLAIM_CONSORTIUM_KEY", "a real consortium key")
    monkeypatch.setenv("VERICLAIM_ENCRYPTION_KEYS", "k1:" + "A" * 43 + "=")
    monkeypatch.setenv("VERICLAIM_WEBHOOK_SIGNING_KEY", "a real webhook key")
    monkeypatch.setenv("VERICLAIM_FRAUD_SIGNING_KEY", "B" * 43 + "=")
    monkeypatch.setenv("VERICLAIM_DATABASE_URL", "postgresql+psycopg://u@db/vericlaim")
    settings = get_settings()
    assert settings.resolved_database_url() == "postgresql+psycopg://u@db/vericlaim"
    assert "real" not in repr(settings)
