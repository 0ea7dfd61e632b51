"""Read a C2PA manifest store offline with c2pa-python, at load time.

The reader validates signatures, hashes and certificate chains itself; nothing is fetched
from the network (no remote manifests, no OCSP), so a signer is never on a trust list
here and ``signingCredential.untrusted`` is expected on every genuine file.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from vericlaim.evidence.model import C2paStore

__all__ = ["read_c2pa"]

log = logging.getLogger(__name__)

# A manifest store is a JUMBF superbox ("jumb") whose description box is labelled "c2pa";
# a file without both byte strings cannot hold one, and is not handed to the parser.
_STORE_MARKERS = (b"jumb", b"c2pa")

_OFFLINE = {
    "verify.remote_manifest_fetch": "false",
    "verify.ocsp_fetch": "false",
    "verify.verify_after_reading": "true",
}

# Messages of c2pa-rs meaning "there is no manifest here", not "the manifest is broken".
_NO_MANIFEST = ("manifestnotfound", "no jumbf", "jumbfnotfound", "manifest not found")


def _context() -> Any:
    import c2pa

    settings = c2pa.Settings()
    for path, value in _OFFLINE.items():
        settings.set(path, value)
    return c2pa.Context(settings)


def _open_reader(data: bytes, mime: str | None) -> Any:
    import c2pa

    return c2pa.Reader.try_create(mime or None, io.BytesIO(data), context=_context())


def read_c2pa(data: bytes, mime: str, *, source: str = "<bytes>") -> C2paStore | None:
    """The file's C2PA manifest store, or ``None`` when it carries none.

    Never raises: a store that is present but cannot be parsed comes back as
    ``C2paStore(None, None, error=...)``. ``manifest_store`` is the reader's JSON report
    (``active_manifest``, ``manifests``, ``validation_status``, ``validation_results``,
    ``validation_state``), parsed.

    Parameters
    ----------
    data : bytes
        The whole file.
    mime : str
        Its media type as sniffed (``image/jpeg``, ``video/mp4``, ...); when the reader does
        not know it, the container is detected from the bytes.
    source : str
        Where the bytes came from, for log messages only.
    """
    if not all(marker in data for marker in _STORE_MARKERS):
        return None
    try:
        import c2pa
    except ImportError as exc:  # the package is a dependency; a broken install is an error
        return C2paStore(None, None, error=f"c2pa-python is not available ({exc})")
    try:
        try:
            reader = _open_reader(data, mime)
        except c2pa.C2paError as exc:
            if "unsupported" not in str(exc).lower() or not mime:
                raise
            reader = _open_reader(data, None)
        if reader is None:
            return None
        with reader:
            report = json.loads(reader.json())
            state = reader.get_validation_state()
    except Exception as exc:  # c2pa errors, malformed JSON, anything else: never raise
        text = f"{type(exc).__name__}: {exc}"
        lowered = text.lower()
        if any(m in lowered or m in lowered.replace(" ", "") for m in _NO_MANIFEST):
            return None
        log.info("C2PA manifest store in %s cannot be read: %s", source, text)
        return C2paStore(None, None, error=text[:500])
    if not isinstance(report, dict):
        return C2paStore(None, None, error="the C2PA report is not a JSON object")
    state = state or report.get("validation_state")
    return C2paStore(manifest_store=report, validation_state=state)
