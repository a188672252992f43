"""The classify stage: decide which scans are worth the detector.

Two screens answer the same question through one interface:

- ``physical`` (default): excess nightside brightness in rayleigh, judged
  against the file's own random errors (:mod:`marsaurora.classify.physical`);
- ``paper``: the OpenCV filter of Pacios et al. (2024) on the heatmap
  (:mod:`marsaurora.classify.paper`), kept for comparison. On EMUS-like data
  it separates night from day, not aurora from quiet night.

Both return a :class:`ScreenResult` whose candidates carry their position in
the scan and in the heatmap, so either can feed the detector and catalog.
"""

from marsaurora.classify.paper import PaperFilterParams, paper_filter
from marsaurora.classify.physical import PhysicalScreenParams, physical_screen
from marsaurora.classify.result import Candidate, ScreenResult
from marsaurora.emus import Observation
from marsaurora.preprocess import Heatmap

SCREENS = ("physical", "paper")
DEFAULT_SCREEN = SCREENS[0]


def classify(observation: Observation, heatmap: Heatmap, *, screen: str = DEFAULT_SCREEN,
             physical: PhysicalScreenParams | None = None,
             paper: PaperFilterParams | None = None) -> ScreenResult:
    """Run the chosen screen on one scan.

    Raises
    ------
    ValueError
        If ``screen`` is not one of :data:`SCREENS`.
    """
    if screen == "physical":
        return physical_screen(observation, heatmap, physical or PhysicalScreenParams())
    if screen == "paper":
        return paper_filter(heatmap, paper or PaperFilterParams())
    raise ValueError(f"unknown screen {screen!r}; choose one of {', '.join(SCREENS)} "
                     "(AURORA_SCREEN)")


__all__ = ["DEFAULT_SCREEN", "SCREENS", "Candidate", "PaperFilterParams", "PhysicalScreenParams",
           "ScreenResult", "classify", "paper_filter", "physical_screen"]
