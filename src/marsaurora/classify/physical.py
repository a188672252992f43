"""Physical aurora screen: excess nightside brightness, in rayleigh.

Works on the scan itself, not on colours:

1. Night pixels: on the disk, solar zenith angle above ``night_sza_min_deg``,
   emission angle below ``night_emission_max_deg`` (the page's usual
   selection), with a finite brightness.
2. Local background and noise per block of the scan: the median night
   brightness, and sigma = the larger of the median ``RAD_ERR_RAND`` and the
   robust scatter, floored at ``min_sigma_r``. Medians, so an aurora inside a
   block barely moves them. The blocks are fitted both to the brightness and
   to its slant-corrected ``B cos(e)``; the better fit is kept (limb
   brightening of thin airglow, where the scan shows it).
3. Despike: a pixel far above the median of its 3x3 neighbours, by more than
   half its own excess, is a hot pixel and takes that median. A smooth
   aurora peak is never more than a fraction above its neighbours.
4. Smooth the excess over 3x3 (NaN stripes left out) and keep pixels whose
   smoothed excess is ``SMOOTHED_Z`` sigma of the mean and half of
   ``min_excess_r``.
5. Each connected region is a candidate when it covers ``min_area_px``
   pixels, its peak excess reaches ``min_excess_r`` and its summed excess,
   leaving out its brightest pixel, is ``min_significance`` sigma.

A bright sunlit limb next to a dark disk never enters step 1: it is off the
disk, sunlit, or seen at a grazing emission angle.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from marsaurora.classify.result import Candidate, ScreenResult
from marsaurora.emus import Observation
from marsaurora.preprocess import HeatmapFrame

SMOOTHED_Z = 4.0
BACKGROUND_BLOCK_PX = 32
MIN_BLOCK_FILL = 0.2
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class PhysicalScreenParams:
    """Thresholds of the physical screen (``AURORA_*`` settings)."""

    night_sza_min_deg: float = 110.0
    night_emission_max_deg: float = 60.0
    min_excess_r: float = 1.0
    min_significance: float = 10.0
    min_area_px: int = 4
    min_sigma_r: float = 0.05


def physical_screen(observation: Observation, heatmap: HeatmapFrame | None = None,
                    params: PhysicalScreenParams = PhysicalScreenParams()) -> ScreenResult:
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

    Returns
    -------
    ScreenResult
        Candidates sorted by decreasing significance; none for a quiet scan.
    """
    brightness = observation.brightness_r.astype(np.float64)
    error = observation.brightness_err_r.astype(np.float64)
    with np.errstate(invalid="ignore"):
        night = (observation.on_disk & np.isfinite(brightness)
                 & (observation.sza_deg >= params.night_sza_min_deg)
                 & (observation.emission_deg <= params.night_emission_max_deg))
    stats = {"night_pixels": float(night.sum())}
    if night.sum() < max(params.min_area_px, 9):
        return ScreenResult("physical", (), stats)

    background, sigma, model = _best_background(brightness, error, night,
                                                observation.emission_deg, params.min_sigma_r)
    excess = _despiked_excess(brightness, background, sigma, night)
    smooth_excess, smooth_count = _smoothed(excess, night)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth_z = smooth_excess / (sigma / np.sqrt(smooth_count))
    seeds = (night & (smooth_z >= SMOOTHED_Z)
             & (smooth_excess >= 0.5 * params.min_excess_r)).astype(np.uint8)
    stats["background_r"] = float(np.median(background[night]))
    stats["background_slant"] = float(model == "slant")
    stats["sigma_r"] = float(np.median(sigma[night]))

    count, labels = cv2.connectedComponents(seeds, connectivity=8)
    candidates = []
    for label in range(1, count):
        region = labels == label
        candidate = _judge(observation, heatmap, region, excess, sigma, params)
        if candidate is not None:
            candidates.append(candidate)
    candidates.sort(key=lambda c: -(c.significance or 0.0))
    return ScreenResult("physical", tuple(candidates), stats)


def _best_background(brightness: np.ndarray, error: np.ndarray, night: np.ndarray,
                     emission_deg: np.ndarray, min_sigma_r: float,
                     ) -> tuple[np.ndarray, np.ndarray, str]:
    """Background as flat blocks, or as blocks of ``B cos(e)`` times ``1 / cos(e)``.

    Optically thin night airglow brightens towards the limb as the path
    length, ``1 / cos(emission angle)``: up to 2x at 60 deg, a gradient the
    blocks cannot follow. Whether a scan shows it is not assumed: both models
    are fitted and the one leaving the smaller mean absolute residual on the
    night pixels is kept.
    """
    slant = 1.0 / np.cos(np.radians(np.clip(np.nan_to_num(emission_deg), 0.0, 80.0)))
    flat_bg, flat_sigma = _background_and_sigma(brightness, error, night, min_sigma_r)
    vertical_bg, vertical_sigma = _background_and_sigma(brightness / slant, error / slant,
                                                        night, min_sigma_r / slant.max())
    slant_bg = vertical_bg * slant
    slant_sigma = np.maximum(vertical_sigma * slant, min_sigma_r)
    flat_misfit = float(np.mean(np.abs(brightness[night] - flat_bg[night])))
    slant_misfit = float(np.mean(np.abs(brightness[night] - slant_bg[night])))
    if slant_misfit < flat_misfit:
        return slant_bg, slant_sigma, "slant"
    return flat_bg, flat_sigma, "flat"


def _background_and_sigma(brightness: np.ndarray, error: np.ndarray, night: np.ndarray,
                          min_sigma_r: float) -> tuple[np.ndarray, np.ndarray]:
    """Blockwise median background and noise, interpolated back to every pixel."""
    global_bg = _median(brightness[night])
    positive_err = error[night & (error > 0)]
    global_err = _median(positive_err) if positive_err.size else 0.0
    nint, npix = brightness.shape
    rows = max(1, round(nint / BACKGROUND_BLOCK_PX))
    cols = max(1, round(npix / BACKGROUND_BLOCK_PX))
    bg_blocks = np.full((rows, cols), global_bg)
    sigma_blocks = np.full((rows, cols), max(global_err, min_sigma_r))
    row_edges = np.linspace(0, nint, rows + 1).astype(int)
    col_edges = np.linspace(0, npix, cols + 1).astype(int)
    for r in range(rows):
        for c in range(cols):
            window = (slice(row_edges[r], row_edges[r + 1]), slice(col_edges[c], col_edges[c + 1]))
            inside = night[window]
            if np.count_nonzero(inside) < MIN_BLOCK_FILL * inside.size:
                continue
            values = brightness[window][inside]
            errors = error[window][inside]
            errors = errors[errors > 0]
            median = _median(values)
            scatter = MAD_TO_SIGMA * _median(np.abs(values - median))
            bg_blocks[r, c] = median
            sigma_blocks[r, c] = max(_median(errors) if errors.size else global_err,
                                     scatter, min_sigma_r)
    size = (npix, nint)
    background = cv2.resize(bg_blocks, size, interpolation=cv2.INTER_LINEAR)
    sigma = cv2.resize(sigma_blocks, size, interpolation=cv2.INTER_LINEAR)
    return background, sigma


def _median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty, NaN-free 1-D array, without its per-call overhead.

    The screen takes about 150 small medians per scan; ``np.median``'s
    generic path cost half the stage. Same two middle elements, same mean.
    """
    size = values.size
    middle = np.partition(values, [(size - 1) // 2, size // 2])
    return float((middle[(size - 1) // 2] + middle[size // 2]) / 2)


def _despiked_excess(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
                     night: np.ndarray) -> np.ndarray:
    """Excess over background, with isolated hot pixels replaced by their 3x3 median."""
    filled = np.where(night, brightness, background).astype(np.float32)
    median = cv2.medianBlur(filled, 3).astype(np.float64)
    raw = brightness - background
    spike = night & (brightness - median > np.maximum(3 * sigma, 0.5 * raw))
    excess = np.where(spike, median - background, raw)
    return np.where(night, excess, 0.0)


def _smoothed(excess: np.ndarray, night: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 mean of the excess over night pixels only, and how many were averaged."""
    total = cv2.boxFilter(excess, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(night.astype(np.float64), -1, (3, 3), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, 0.0), np.maximum(count, 1.0)


def _judge(observation: Observation, heatmap: HeatmapFrame | None, region: np.ndarray,
           excess: np.ndarray, sigma: np.ndarray,
           params: PhysicalScreenParams) -> Candidate | None:
    area = int(region.sum())
    if area < params.min_area_px:
        return None
    values = excess[region]
    peak_index = int(np.argmax(values))
    peak_excess = float(values[peak_index])
    if peak_excess < params.min_excess_r:
        return None
    rest = np.delete(values, peak_index)
    rest_sigma = np.delete(sigma[region], peak_index)
    significance = float(rest.sum() / np.sqrt(np.sum(rest_sigma**2))) if rest.size else 0.0
    if significance < params.min_significance:
        return None
    rows, cols = np.nonzero(region)
    peak_row, peak_col = rows[peak_index], cols[peak_index]
    return Candidate(
        integration_range=(int(rows.min()), int(rows.max())),
        slit_pixel_range=(int(cols.min()), int(cols.max())),
        bbox_px=_bbox_px(heatmap, rows, cols),
        area_detector_px=area,
        peak_r=float(observation.brightness_r[peak_row, peak_col]),
        excess_r=peak_excess,
        significance=significance,
        lat_deg=float(observation.lat_deg[peak_row, peak_col]),
        lon_deg=float(observation.lon_deg[peak_row, peak_col]),
        sza_deg=float(observation.sza_deg[peak_row, peak_col]),
    )


def _bbox_px(heatmap: HeatmapFrame | None, rows: np.ndarray,
             cols: np.ndarray) -> tuple[int, int, int, int]:
    if heatmap is None:
        return (-1, -1, -1, -1)
    corner_rows = np.array([rows.min() - 0.5, rows.min() - 0.5, rows.max() + 0.5, rows.max() + 0.5])
    corner_cols = np.array([cols.min() - 0.5, cols.max() + 0.5, cols.min() - 0.5, cols.max() + 0.5])
    x, y = heatmap.to_px(corner_rows, corner_cols)
    return (int(np.floor(x.min())), int(np.floor(y.min())),
            int(np.ceil(x.max())), int(np.ceil(y.max())))
