from __future__ import annotations

import vericlaim.evidence as evidence


def test_public_names_exist_and_nothing_else_is_advertised() -> None:
    assert sorted(evidence.__all__) == evidence.__all__
    for name in evidence.__all__:
        assert getattr(evidence, name) is not None
    assert {"load_path", "load_bytes", "decode_full", "sniff_format", "Evidence"} <= set(
        evidence.__all__
    )
