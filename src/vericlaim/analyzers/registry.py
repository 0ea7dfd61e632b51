"""The one place analyzers are registered; tests and docs walk it."""

from __future__ import annotations

from vericlaim.analyzers.base import Analyzer

__all__ = ["all_analyzers", "default_analyzers", "get", "register"]

_REGISTRY: dict[str, type[Analyzer]] = {}


def register(cls: type[Analyzer]) -> type[Analyzer]:
    """Class decorator: add an analyzer to the registry under its ``name``."""
    if not getattr(cls, "name", None) or not getattr(cls, "version", None):
        raise TypeError(f"{cls.__qualname__} must declare name and version")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"analyzer name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators.
    from vericlaim.analyzers import (  # noqa: F401
        ai_detector,
        claim_consistency,
        copy_move,
        ela,
        jpeg_dq,
        noise,
        provenance,
        recapture,
        reference_match,
    )


def all_analyzers() -> dict[str, type[Analyzer]]:
    """Every registered analyzer class, by name."""
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Analyzer]:
    """The analyzer class called ``name``."""
    analyzers = all_analyzers()
    try:
        return analyzers[name]
    except KeyError:
        raise KeyError(f"unknown analyzer {name!r}; known: {', '.join(analyzers)}") from None


def default_analyzers() -> list[Analyzer]:
    """One instance of every registered analyzer with its default configuration."""
    return [cls() for cls in all_analyzers().values()]
