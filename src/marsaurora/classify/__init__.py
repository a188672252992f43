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
from marsaurora.preprocess import Heatmap, HeatmapFrame

SCREENS = ("physical", "paper")
DEFAULT_SCREEN = SCREENS[0]
PIXEL_SCREENS = frozenset({"paper"})
"""Screens that look at the heatmap's pixels; the others need only its frame."""


def classify(observation: Observation, heatmap: HeatmapFrame, *, screen: str = DEFAULT_SCREEN,
             physical: PhysicalScreenParams | None = None,
             paper: PaperFilterParams | None = None) -> ScreenResult:
    """Run the chosen screen on one scan.

    ``heatmap`` must be a full :class:`Heatmap` for :data:`PIXEL_SCREENS`;
    for the others its frame is enough.

    Raises
    ------
    ValueError
        If ``screen`` is not one of :data:`SCREENS`.
    TypeError
        If a screen of :data:`PIXEL_SCREENS` is given only a frame.
    """
    if screen == "physical":
        return physical_screen(observation, heatmap, physical or PhysicalScreenParams())
    if screen == "paper":
        if not isinstance(heatmap, Heatmap):
            raise TypeError("the paper filter needs the heatmap's pixels, not only its frame")
        return paper_filter(heatmap, paper or PaperFilterParams())
    raise ValueError(f"unknown screen {screen!r}; choose one of {', '.join(SCREENS)} "
                     "(AURORA_SCREEN)")


__all__ = ["DEFAULT_SCREEN", "PIXEL_SCREENS", "SCREENS", "Candidate", "PaperFilterParams",
           "PhysicalScreenParams", "ScreenResult", "classify", "paper_filter", "physical_screen"]
