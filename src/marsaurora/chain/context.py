"""What every stage handler gets (storage, layout, options) and what it returns."""

import json
from dataclasses import dataclass, replace
from typing import Any

from cloudevents.http import CloudEvent

from marsaurora.config import Settings
from marsaurora.layout import BucketLayout
from marsaurora.pipeline import PipelineOptions
from marsaurora.storage import Storage


@dataclass(frozen=True)
class Reply:
    """A stage's answer: an HTTP status, and the next event when there is one."""

    status: int
    event: CloudEvent | None = None
    message: str = ""


@dataclass(frozen=True)
class StageContext:
    """Built once per process, at start: the bucket, its layout and the science options."""

    storage: Storage
    layout: BucketLayout
    options: PipelineOptions

    @classmethod
    def from_settings(cls, settings: Settings) -> "StageContext":
        """The context named by the ``AURORA_*`` settings (never writes local PNGs)."""
        options = replace(PipelineOptions.from_settings(settings), png_dir=None)
        return cls(storage=Storage.from_settings(settings),
                   layout=BucketLayout.from_settings(settings), options=options)

    def put_json(self, key: str, document: dict[str, Any]) -> None:
        """Store one JSON document (a record or a dead letter)."""
        self.storage.put(key, json.dumps(document).encode("utf-8"), "application/json")
