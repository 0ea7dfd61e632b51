"""Settings as data: each one has a name, a default and a help text.

Built by :func:`get_settings`, never at import time, from ``VERICLAIM_*``
environment variables.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


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
