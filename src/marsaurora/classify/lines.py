"""Detector lines the instrument spoiled: whole columns or integrations brighter than their
neighbours. The excess map leaves them out of its search, and a feature is joined across
them (:data:`~marsaurora.classify.features.MAX_BRIDGED_GAP_PX`)."""

from __future__ import annotations

import numpy as np

MIN_LINE_PIXELS = 20
BAD_LINE_NEIGHBOURS = 4
BAD_LINE_SIGMA = 1.0
"""A line's lower quartile of residuals this many sigma above its neighbours' marks it bad; the
lower quartile of 20 noise pixels scatters by about 0.3 sigma."""
BAD_LINE_QUANTILE = 0.25
"""Which level of a line's residuals is compared: the lower quartile, not the median. A bad
line lifts every pixel; an aurora covers part of a line, but on the short lines near the limb
it can cover most: an arc along a column, over 64% of it, was taken for five bad columns by the
median and cut in two (21 of 22 scans with lines flagged on the OOD calibration sets and
validation held no bad line at all, only an aurora; 8 with the lower quartile)."""


def bad_detector_lines(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
                       searched: np.ndarray) -> np.ndarray:
    """Whole detector columns or integrations brighter than their neighbours: instrument, not Mars.

    A column (or row) is bad when the lower quartile of its residuals, in
    sigma (:data:`BAD_LINE_QUANTILE`), stands :data:`BAD_LINE_SIGMA` above
    the median of its neighbours' lower quartiles. Over the whole line: an
    aurora covers part of a line, rarely three quarters of it.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = np.where(searched, (brightness - background) / sigma, np.nan)
    bad = np.zeros(searched.shape, dtype=bool)
    width = BAD_LINE_NEIGHBOURS
    for axis in (0, 1):
        levels = finite_quantiles(residual, axis, BAD_LINE_QUANTILE)
        levels[searched.sum(axis=axis) < MIN_LINE_PIXELS] = np.nan
        windows = np.lib.stride_tricks.sliding_window_view(
            np.pad(levels, width, constant_values=np.nan), 2 * width + 1).copy()
        windows[:, width] = np.nan
        around = finite_quantiles(windows, 1, 0.5)
        enough = np.isfinite(windows).sum(axis=1) >= 2
        line = enough & (levels - around > BAD_LINE_SIGMA)
        if axis == 0:
            bad[:, line] = True
        else:
            bad[line, :] = True
    return bad & searched


def finite_quantiles(values: np.ndarray, axis: int, quantile: float) -> np.ndarray:
    """``np.nanquantile(values, quantile, axis)`` of a 2-D array, NaN where a line has no
    finite value, by one sort: for lines this short ``np.nanmedian`` took a masked-array path
    that cost as much as a background fit."""
    ordered = np.moveaxis(np.sort(values, axis=axis), axis, 0)
    count = np.isfinite(values).sum(axis=axis)
    lines = np.arange(ordered.shape[1])
    position = quantile * np.maximum(count - 1, 0)
    below = np.floor(position).astype(np.int64)
    low = ordered[below, lines]
    high = ordered[np.minimum(below + 1, np.maximum(count - 1, 0)), lines]
    return np.where(count > 0, low + (position - below) * (high - low), np.nan)


