"""What a screen returns: the candidates it found in one scan."""

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marsaurora.classify.excess import ExcessMap


@dataclass(frozen=True)
class Candidate:
    """One object a screen found; fields a screen cannot fill stay ``None``.

    Ranges are inclusive ``(first, last)`` detector indices; ``bbox_px`` is
    ``(x0, y0, x1, y1)`` in the 640x480 heatmap.
    """

    integration_range: tuple[int, int]
    slit_pixel_range: tuple[int, int]
    bbox_px: tuple[int, int, int, int]
    area_detector_px: int | None = None
    area_heatmap_px: int | None = None
    peak_r: float | None = None
    excess_r: float | None = None
    significance: float | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    sza_deg: float | None = None
    emission_deg: float | None = None
    clean_night: bool | None = None
    """Whether it peaks in the clean night, where the lower screen-only bar applies
    (``AURORA_CLEAN_NIGHT_SCREEN_ONLY_SIGNIFICANCE``)."""
    past_terminator: bool | None = None
    """Whether it peaks past the terminator band, where a broad feature standing less than
    ``AURORA_BROAD_MIN_CONTRAST`` out of the night glow needs a detector box."""
    contrast: float | None = None
    """Its summed excess over the background under it."""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict without the empty fields; floats rounded for reading."""
        return {key: (round(value, 3) if isinstance(value, float) else
                      list(value) if isinstance(value, tuple) else value)
                for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class ScreenResult:
    """What a screen decided for one scan."""

    screen: str
    candidates: tuple[Candidate, ...]
    stats: dict[str, float]
    excess: "ExcessMap | None" = field(default=None, compare=False, repr=False)
    """The excess map the physical screen measured, for the steps after it in one process."""

    @property
    def passed(self) -> bool:
        """True when the scan should go on to the detector."""
        return bool(self.candidates)
