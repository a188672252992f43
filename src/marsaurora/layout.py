"""Where everything lives in the bucket, derived from the input key.

Inputs arrive under ``AURORA_S3_INPUT_PREFIX`` (``observations/`` by
default), possibly in sub-folders (``observations/2022/03/emm_...fits.gz``).
Everything derived keeps that relative path under a fixed folder below
``AURORA_S3_OUTPUT_PREFIX``:

==================  ==================================================
``heatmaps/``       ``<relative stem>-<digest>.png``
``scans/``          ``<relative stem>-<digest>.npz`` (scan artifact)
``features/``       ``<relative stem>-<digest>.npz`` (the screen's excess features, for catalog)
``excess-views/``   ``<relative stem>-<digest>.png`` (the excess over a uniform night, for detect)
``overlays/``       ``<relative stem>-<digest>.png`` (detections drawn on the heatmap)
``records/``        ``<relative key>.json``, one record per observation
``dead-letter/``    ``<relative key>/<event id>.json``
==================  ==================================================

``<digest>`` is the start of the input's SHA-256, so a redelivered event
overwrites its own outputs, and a re-uploaded file with new content gets new
ones. Records are keyed by the input key alone: one observation has one
record, the latest processing's.
"""

import hashlib
import re
from dataclasses import dataclass

from marsaurora.config import Settings
from marsaurora.pipeline import observation_stem

DIGEST_CHARS = 16
MAX_KEY_BYTES = 1024
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class KeyRefused(ValueError):
    """An object key that the chain must not touch (outside the prefix, traversal, ...)."""


@dataclass(frozen=True)
class BucketLayout:
    """The bucket and the keys of every object the chain reads or writes."""

    bucket: str
    input_prefix: str = "observations/"
    output_prefix: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "BucketLayout":
        """The layout named by the ``AURORA_S3_*`` settings."""
        return cls(bucket=settings.s3_bucket, input_prefix=settings.s3_input_prefix,
                   output_prefix=settings.s3_output_prefix)

    def input_key(self, relative: str) -> str:
        """The key an observation is uploaded to, from its path below the input prefix."""
        key = self.input_prefix + relative
        self.relative_input(key)
        return key

    def relative_input(self, key: str) -> str:
        """The part of an input key below the input prefix, after checking the key.

        Raises
        ------
        KeyRefused
            For keys outside the input prefix, with ``..``, ``.`` or empty
            segments, control characters, or longer than S3 allows.
        """
        if not isinstance(key, str) or not key:
            raise KeyRefused(f"object key must be a non-empty string, got {key!r}")
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise KeyRefused(f"object key is longer than {MAX_KEY_BYTES} bytes")
        if any(ord(char) < 32 or ord(char) == 127 for char in key):
            raise KeyRefused(f"object key {key!r} contains control characters")
        if not key.startswith(self.input_prefix):
            raise KeyRefused(f"object key {key!r} is outside the input prefix "
                             f"{self.input_prefix!r} (AURORA_S3_INPUT_PREFIX)")
        relative = key[len(self.input_prefix):]
        segments = relative.split("/")
        if relative.startswith("/") or any(s in ("", ".", "..") for s in segments):
            raise KeyRefused(f"object key {key!r} has an empty, '.' or '..' path segment")
        return relative

    def heatmap_key(self, input_key: str, digest: str) -> str:
        """Where the heatmap PNG of one version of an input goes."""
        return self._derived("heatmaps/", input_key, f"-{digest[:DIGEST_CHARS]}.png")

    def scan_key(self, input_key: str, digest: str) -> str:
        """Where the scan artifact of one version of an input goes."""
        return self._derived("scans/", input_key, f"-{digest[:DIGEST_CHARS]}.npz")

    def features_key(self, input_key: str, digest: str) -> str:
        """Where classify leaves the screen's excess features of one version of an input."""
        return self._derived("features/", input_key, f"-{digest[:DIGEST_CHARS]}.npz")

    def excess_view_key(self, input_key: str, digest: str) -> str:
        """Where classify leaves the excess view the network also looks at
        (:func:`marsaurora.pipeline.excess_view`)."""
        return self._derived("excess-views/", input_key, f"-{digest[:DIGEST_CHARS]}.png")

    def overlay_key(self, input_key: str, digest: str) -> str:
        """Where the detections overlay of one version of an input goes."""
        return self._derived("overlays/", input_key, f"-{digest[:DIGEST_CHARS]}.png")

    @property
    def records_prefix(self) -> str:
        """The folder holding every observation's record."""
        return f"{self.output_prefix}records/"

    def record_key(self, input_key: str) -> str:
        """Where the one record of an observation goes."""
        return f"{self.records_prefix}{self.relative_input(input_key)}.json"

    def dead_letter_key(self, input_key: str | None, event_id: str) -> str:
        """Where one dead-lettered event goes; unattributable events get their own folder."""
        if not _SAFE_ID.match(event_id or ""):
            event_id = hashlib.sha256(str(event_id).encode()).hexdigest()[:32]
        folder = "_unattributed" if input_key is None else self.relative_input(input_key)
        return f"{self.output_prefix}dead-letter/{folder}/{event_id}.json"

    def _derived(self, folder: str, input_key: str, suffix: str) -> str:
        relative = self.relative_input(input_key)
        parent, _, name = relative.rpartition("/")
        stem = observation_stem(name)
        return f"{self.output_prefix}{folder}{parent + '/' if parent else ''}{stem}{suffix}"


def content_digest(body: bytes) -> str:
    """Hex SHA-256 of an object's bytes: the content half of derived keys."""
    return hashlib.sha256(body).hexdigest()
