"""What every stage handler gets (storage, layout, options) and what it returns."""

from dataclasses import dataclass
from typing import Any

from cloudevents.http import CloudEvent

from marsaurora import jsonsafe
from marsaurora.chain.seal import seal_key
from marsaurora.config import Settings
from marsaurora.detect.service import BatchingDetector
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
    detector: BatchingDetector | None = None
    """Only the detect stage loads the model; None there means ``AURORA_DETECTOR=off``."""
    seal_key: bytes = b""
    """What events between stages are sealed with (:mod:`marsaurora.chain.seal`)."""

    @classmethod
    def from_settings(cls, settings: Settings, stage: str = "") -> "StageContext":
        """The context named by the ``AURORA_*`` settings.

        For ``stage="detect"`` the model starts loading in the background.
        """
        options = PipelineOptions.from_settings(settings)
        detector = None
        if stage == "detect" and options.detector is not None:
            detector = BatchingDetector(options.detector, max_batch=settings.detect_batch)
        storage = Storage.from_settings(settings)
        return cls(storage=storage, layout=BucketLayout.from_settings(settings), options=options,
                   detector=detector, seal_key=seal_key(settings.seal_key, storage.secret_key))

    def readiness(self) -> tuple[bool, str]:
        """``(ready, reason)`` for the readiness probe: the bucket answers, and the detect
        stage's model is loaded."""
        reasons = []
        if self.detector is not None:
            loaded, reason = self.detector.readiness()
            if not loaded:
                return False, reason
            reasons.append(reason)
        reachable, reason = self.storage.reachable()
        return reachable, "; ".join([*reasons, reason])

    def put_json(self, key: str, document: dict[str, Any]) -> None:
        """Store one JSON document (a record or a dead letter)."""
        self.storage.put(key, jsonsafe.dumps(document).encode("utf-8"), "application/json")
