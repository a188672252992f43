"""Small JSON state files that survive a kill at any moment: read leniently, written atomically.

The resumable run's digest cache and the archive mirror's state are both
caches: losing one costs work, never results, so a missing or damaged file
reads as empty, and a write goes to a ``.partial`` sibling that replaces the
old file only once complete.
"""

import json
import os
from pathlib import Path
from typing import Any


def load_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty when the file is missing, unreadable or not an object."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def write_atomically(path: Path, text: str) -> None:
    """Write ``path`` so that a kill at any moment leaves either the old or the new file."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8") as sink:
        sink.write(text)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(partial, path)
