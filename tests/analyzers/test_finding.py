"""A finding's JSON is strict JSON, whatever an analyzer measured."""

from __future__ import annotations

import json
import math

import numpy as np

from vericlaim.analyzers import Finding
from vericlaim.analyzers.finding import finite


def test_non_finite_measurements_become_null_at_any_depth() -> None:
    value = {
        "a": math.nan,
        "b": [1.5, math.inf, {"c": -math.inf}],
        "d": (np.float32("nan"), np.float64(2.5), 3),
        "e": "nan",
        "f": None,
        "g": True,
    }
    safe = finite(value)
    assert safe == {
        "a": None,
        "b": [1.5, None, {"c": None}],
        "d": (None, 2.5, 3),
        "e": "nan",
        "f": None,
        "g": True,
    }
    assert type(safe["d"][1]) is float and type(safe["g"]) is bool
    assert value["a"] is not None  # the finding's own details are left as they were


def test_a_finding_with_a_measurement_over_nothing_is_strict_json() -> None:
    f = Finding.make(
        analyzer="noise",
        version="1.0.0",
        media_id="claim-1",
        reason_code="noise.none",
        details={"ratio_spread_log2": math.nan, "shift_px": math.inf, "blocks": 0},
    )
    text = json.dumps(f.to_json(), allow_nan=False)
    details = json.loads(text)["details"]
    assert details == {"ratio_spread_log2": None, "shift_px": None, "blocks": 0}
    assert math.isnan(f.details["ratio_spread_log2"])
