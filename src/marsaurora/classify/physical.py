"""Physical aurora screen: excess nightside brightness, in rayleigh.

The screen passes a scan to the detector when the excess map
(:mod:`marsaurora.classify.excess`: the whole night disk, up to the limb and
into the terminator band, against a background measured in the scan itself)
holds a feature that is a candidate aurora: it covers ``min_area_px`` seed
pixels, its peak excess reaches ``min_excess_r`` and its summed excess,
leaving out its brightest pixel, is ``min_significance`` sigma: the excess a
detector box needs under it to be an aurora
(:class:`~marsaurora.fusion.FusionParams`), so every scan the detector could
still make an aurora of reaches it. Whether a candidate is an aurora, with a
box or strong enough without one, is :mod:`marsaurora.fusion`'s decision. On
1497 aurora-free scans (validation, OOD calibration and scenario sets) the
strongest feature was 5.2 sigma in the clean night and 7.5 at the limb
(docs/screens.md): two of the 900 scenario scans reach the detector.

A bright sunlit limb next to a dark disk never enters the search: it is off
the disk or sunlit, and disk pixels beside it are left out.
"""

from dataclasses import dataclass

import numpy as np

from marsaurora.classify.excess import ExcessMap, ExcessParams, excess_map
from marsaurora.classify.features import Feature
from marsaurora.classify.result import Candidate, ScreenResult
from marsaurora.emus import Observation
from marsaurora.knobs import knob
from marsaurora.preprocess import HeatmapFrame


@dataclass(frozen=True)
class PhysicalScreenParams:
    """Thresholds of the physical screen (``AURORA_*`` settings)."""

    night_sza_min_deg: float = knob(
        ExcessParams.night_sza_min_deg,
        "Physical screen: look for auroras at solar zenith angles above this (the terminator "
        "band from 100 deg; the background is fitted from 6 deg lower).", minimum=90.0)
    night_emission_max_deg: float = knob(
        ExcessParams.night_emission_max_deg,
        "Physical screen: look for auroras up to this emission angle (towards the limb).",
        minimum=0.0)
    min_excess_r: float = knob(
        ExcessParams.min_excess_r,
        "Physical screen: a candidate's peak must stand this many rayleigh above "
        "the local night background.", minimum=0.0)
    min_significance: float = knob(
        6.0, "Physical screen: a candidate's summed excess, without its brightest pixel, "
        "must be this many sigma to send the scan to the detector; as low as "
        "AURORA_SUPPORT_SIGNIFICANCE, or the detector never sees what it could confirm.",
        minimum=0.0)
    min_area_px: int = knob(
        4, "Physical screen: a candidate must cover at least this many detector pixels.",
        minimum=1)
    min_sigma_r: float = ExcessParams.min_sigma_r

    @property
    def excess(self) -> ExcessParams:
        """The part of these settings the excess map itself uses."""
        return ExcessParams(night_sza_min_deg=self.night_sza_min_deg,
                            night_emission_max_deg=self.night_emission_max_deg,
                            min_excess_r=self.min_excess_r, min_sigma_r=self.min_sigma_r)

    def is_candidate(self, feature: Feature) -> bool:
        """Whether a feature is strong and large enough to send the scan to the detector."""
        return (feature.seed_pixels >= self.min_area_px
                and feature.peak_excess_r >= self.min_excess_r
                and feature.significance >= self.min_significance)


def physical_screen(observation: Observation, heatmap: HeatmapFrame | None = None,
                    params: PhysicalScreenParams = PhysicalScreenParams(),
                    excess: ExcessMap | None = None) -> ScreenResult:
    """Find nightside regions significantly brighter than their background.

    Parameters
    ----------
    observation : Observation
        Brightness, errors and geometry of one scan.
    heatmap : HeatmapFrame, optional
        When given, each candidate also gets its box in the heatmap (the
        frame is enough: the pixels are not looked at).
    params : PhysicalScreenParams
        Thresholds.
    excess : ExcessMap, optional
        The scan's excess map when already measured with ``params.excess``.

    Returns
    -------
    ScreenResult
        Candidates sorted by decreasing significance; none for a quiet scan.
    """
    if excess is None:
        excess = excess_map(observation, params.excess)
    candidates = tuple(_candidate(observation, heatmap, feature)
                       for feature in excess.features if params.is_candidate(feature))
    return ScreenResult("physical", candidates, dict(excess.stats), excess)


def _candidate(observation: Observation, heatmap: HeatmapFrame | None,
               feature: Feature) -> Candidate:
    at = feature.peak_pixel
    return Candidate(
        integration_range=feature.integration_range,
        slit_pixel_range=feature.slit_pixel_range,
        bbox_px=bbox_px(heatmap, feature.integration_range, feature.slit_pixel_range),
        area_detector_px=feature.area_px,
        peak_r=float(observation.brightness_r[at]),
        excess_r=feature.peak_excess_r,
        significance=feature.significance,
        lat_deg=float(observation.lat_deg[at]),
        lon_deg=float(observation.lon_deg[at]),
        sza_deg=float(observation.sza_deg[at]),
        emission_deg=float(observation.emission_deg[at]),
        clean_night=feature.clean_night,
        past_terminator=feature.past_terminator,
        contrast=feature.contrast if np.isfinite(feature.contrast) else None,
    )


def bbox_px(heatmap: HeatmapFrame | None, integration_range: tuple[int, int],
            slit_pixel_range: tuple[int, int]) -> tuple[int, int, int, int]:
    """Heatmap box ``(x0, y0, x1, y1)`` around inclusive detector ranges; -1s with no frame."""
    if heatmap is None:
        return (-1, -1, -1, -1)
    first, last = integration_range
    left, right = slit_pixel_range
    corner_rows = np.array([first - 0.5, first - 0.5, last + 0.5, last + 0.5])
    corner_cols = np.array([left - 0.5, right + 0.5, left - 0.5, right + 0.5])
    x, y = heatmap.to_px(corner_rows, corner_cols)
    return (int(np.floor(x.min())), int(np.floor(y.min())),
            int(np.ceil(x.max())), int(np.ceil(y.max())))
