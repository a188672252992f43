"""The detect function's model: loaded once in the background, fed in batches.

The HTTP server answers liveness at once while the model loads (about a
second; longer on a cold GPU), and readiness only once it has loaded, so
Knative routes no event to a replica that cannot work. Requests handled at
the same time (one server thread each) queue here; one inference thread
takes up to ``max_batch`` waiting images and runs them through the network
together, which costs less per image than one at a time.
"""

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import NamedTuple

import numpy as np

from marsaurora.detect import Detection, Detector, DetectorOptions, ModelError

log = logging.getLogger(__name__)


class BatchingDetector:
    """A :class:`Detector` behind a queue, loaded by a background thread."""

    def __init__(self, options: DetectorOptions, *, max_batch: int = 8,
                 start: bool = True) -> None:
        """Start loading the model now, or when :meth:`start` is called.

        Requests made before the model is loaded wait in the queue and form
        the first batch.
        """
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.options = options
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []
        """Size of every batch run so far (for tests and the benchmark)."""
        self._detector: Detector | None = None
        self._load_error: str | None = None
        self._waiting: queue.Queue[_Request] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="detector", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Begin loading the model in the background, then serve the queue."""
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Requests queued and not yet taken into a batch."""
        return self._waiting.qsize()

    def readiness(self) -> tuple[bool, str]:
        """``(ready, reason)``: ready once the model is loaded."""
        if self._load_error is not None:
            return False, self._load_error
        if self._detector is None:
            return False, "loading the detector model"
        return True, f"model loaded ({self._detector.options.backend} on {self._detector.device})"

    def detect(self, images: Sequence[np.ndarray], *, views: int | None = None,
               timeout_s: float = 120.0) -> list[list[Detection]]:
        """Detections for each heatmap, as :meth:`Detector.detect`; the images join the queue
        and run in whatever batches form (one network batch per number of views).

        Raises
        ------
        ModelError
            When the model could not be loaded, or no answer came in time.
        """
        if self._load_error is not None:
            raise ModelError(self._load_error)
        answers: list[Future[list[Detection]]] = []
        for image in images:
            answers.append(Future())
            self._waiting.put(_Request(image, views, answers[-1]))
        try:
            return [answer.result(timeout=timeout_s) for answer in answers]
        except TimeoutError:
            raise ModelError(f"the detector did not answer within {timeout_s:.0f} s") from None

    def _serve(self) -> None:
        try:
            self._detector = Detector(self.options)
        except Exception as exc:  # noqa: BLE001 - reported through readiness, not a dead thread
            self._load_error = f"cannot load the detector: {exc}"
            log.error(self._load_error)
            while True:
                self._waiting.get().answer.set_exception(ModelError(self._load_error))
        while True:
            batch = [self._waiting.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            self._run(batch)

    def _run(self, batch: list["_Request"]) -> None:
        assert self._detector is not None
        self.batch_sizes.append(len(batch))
        for views in dict.fromkeys(request.views for request in batch):
            alike = [request for request in batch if request.views == views]
            try:
                results = self._detector.detect([request.image for request in alike],
                                                views=views)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                for request in alike:
                    request.answer.set_exception(exc)
                continue
            for request, found in zip(alike, results, strict=True):
                request.answer.set_result(found)


class _Request(NamedTuple):
    """One heatmap waiting for the network, how many ways to look at it, and its answer."""

    image: np.ndarray
    views: int | None
    answer: Future[list[Detection]]
