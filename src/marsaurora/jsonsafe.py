"""Strict JSON for everything the pipeline writes: no NaN or Infinity, which strict parsers refuse.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default; JSON has
neither, and Go (Knative), JavaScript and ``jq`` refuse them. A number that
is not finite becomes ``null`` here, once, for records, events and stored
documents alike.
"""

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every float that is NaN or infinite replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON text of ``value`` (non-finite numbers as ``null``)."""
    return json.dumps(finite(value), allow_nan=False)
