"""How noisy a scan is: its gain in counts per rayleigh, and whether its errors tell the truth.

EMUS brightness is Poisson: ``counts = (R / RAD_ERR_RAND)**2``. The gain is read
from the file's own errors where pixels hold a few counts, or from the scatter of
neighbouring pixels in a file without usable errors; a scan that scatters more
than its errors imply has its gain lowered to match (:func:`noise_beyond_errors`).
Used by :mod:`marsaurora.classify.excess` and :mod:`marsaurora.classify.background`.
"""

from __future__ import annotations

import numpy as np

MIN_BAND_PIXELS = 12
"""Fewest pixels a statistic of the scan (a block's, a level's of background) is read from."""
GAIN_MIN_COUNTS = 4.0
"""Pixels this bright in counts (R at least twice its error) give the gain from the errors."""
GAIN_BINS = 8
GAIN_MIN_SPAN = 3.0
GAIN_MIN_GROWTH = 2.0
"""The gain is the slope of squared error against brightness over :data:`GAIN_BINS` bins when
the brightest bin is :data:`GAIN_MIN_SPAN` times the faintest and its squared error
:data:`GAIN_MIN_GROWTH` times; else the median ratio of the two."""
SCATTER_TRIM = 0.01
"""Share of the most extreme values left out when the noise is read from the scan itself:
neighbour differences (:func:`_gain_from_scatter`), residuals (:func:`noise_beyond_errors`)."""
SCATTER_LEVEL_QUANTILES = (0.0, 0.5, 0.9, 1.0)
"""The scatter is compared with the errors separately at each level of background (the darkest
half of the pixels, the next 40%, the brightest tenth): errors that follow the brightness
wrongly are right at one level and wrong at another, and the few pixels of a dayglow tail
would drown among a dark night's."""
NOISE_BEYOND_ERRORS_LIMIT = 1.5
"""A scan scattering more than this many times its Poisson errors about its background has its
gain lowered to match and its background refitted; under it, the errors are trusted."""


def poisson_sigma(expected_r: np.ndarray | float, counts_per_r: float) -> np.ndarray | float:
    """Poisson noise of an expected brightness, never below one count's worth."""
    return np.sqrt(np.maximum(expected_r, 0.0) * counts_per_r + 1.0) / counts_per_r


def counts_per_rayleigh(brightness: np.ndarray, error: np.ndarray, searched: np.ndarray) -> float:
    """The scan's gain from its own errors (Poisson: counts = (R / err)**2); from its scatter
    when it has no usable errors (:func:`_gain_from_scatter`); 0 if neither tells.

    Read where the pixels hold :data:`GAIN_MIN_COUNTS` counts or more, when enough do. For
    Poisson errors every counted pixel gives the same gain; errors with a part that is not
    Poisson (a fitted brightness scatters about zero on a dark night) make the gain of a
    near-empty pixel many times too high, and on a dark night those are most pixels."""
    with np.errstate(invalid="ignore", divide="ignore"):
        usable = searched & (brightness > 0) & (error > 0) & np.isfinite(error)
        if usable.sum() < MIN_BAND_PIXELS:
            return _gain_from_scatter(brightness, searched)
        counted = usable & (brightness >= np.sqrt(GAIN_MIN_COUNTS) * error)
        if counted.sum() >= MIN_BAND_PIXELS:
            usable = counted
        variance = error[usable] ** 2
        slope = _variance_slope(brightness[usable], variance)
        if slope > 0:
            return 1.0 / slope
        gain = brightness[usable] / variance
    gain = gain[np.isfinite(gain)]
    return fast_median(gain) if gain.size else _gain_from_scatter(brightness, searched)


def _variance_slope(brightness: np.ndarray, variance: np.ndarray) -> float:
    """How the squared error grows with the brightness (1 / gain for Poisson errors), from the
    medians of :data:`GAIN_BINS` brightness bins; 0 when the brightness spans less than
    :data:`GAIN_MIN_SPAN` times its lowest bin, too little to tell a slope from an offset, or
    when the squared error grows less than :data:`GAIN_MIN_GROWTH` times over it (errors that
    do not follow the brightness at all, such as one value for every pixel).

    A slope, unlike the ratio of the two, is the same when the brightness carries an offset
    or the error a floor that Poisson counts do not explain."""
    if brightness.size < GAIN_BINS * MIN_BAND_PIXELS:
        return 0.0
    order = np.argsort(brightness, kind="stable")
    bins = np.array_split(order, GAIN_BINS)
    level = np.array([fast_median(brightness[b]) for b in bins])
    spread = np.array([fast_median(variance[b]) for b in bins])
    if (level[0] <= 0 or level[-1] < GAIN_MIN_SPAN * level[0]
            or spread[-1] < GAIN_MIN_GROWTH * spread[0]):
        return 0.0
    return float(np.polyfit(level, spread, 1)[0])


def noise_beyond_errors(brightness: np.ndarray, background: np.ndarray, pixels: np.ndarray,
                         counts_per_r: float) -> float:
    """How many times the scan scatters about its background more than its gain implies.

    The root mean square of the residuals in units of their Poisson error
    over ``pixels`` (the search without the features the first pass found),
    leaving out the :data:`SCATTER_TRIM` largest and smallest, at each level
    of background (:data:`SCATTER_LEVEL_QUANTILES`) and over all of them, the worst counting
    (a level with too few pixels to tell counts as 1). About 1 (a
    little under, at a few counts) when ``RAD_ERR_RAND`` is the whole random
    error; 3 when it understates the noise threefold, which made a third of
    quiet nights pass the screen: the background, clipped at 3 of the
    claimed sigma, came out low.
    """
    if counts_per_r <= 0 or pixels.sum() < MIN_BAND_PIXELS:
        return 1.0
    z = ((brightness - background) / poisson_sigma(background, counts_per_r))[pixels]
    level = background[pixels]
    edges = np.quantile(level, SCATTER_LEVEL_QUANTILES)
    group = np.digitize(level, edges[1:-1], right=True)
    return max(_trimmed_rms(z), *(_trimmed_rms(z[group == g]) for g in range(len(edges) - 1)))


def _trimmed_rms(z: np.ndarray) -> float:
    """Root mean square of ``z`` without its :data:`SCATTER_TRIM` largest and smallest; 1 for
    too few values."""
    if z.size < MIN_BAND_PIXELS:
        return 1.0
    low, high = np.quantile(z, [SCATTER_TRIM, 1.0 - SCATTER_TRIM])
    kept = z[(z >= low) & (z <= high)]
    return float(np.sqrt(np.mean(kept**2))) if kept.size else 1.0


def _gain_from_scatter(brightness: np.ndarray, searched: np.ndarray) -> float:
    """Counts per rayleigh from the scan itself, for files without ``RAD_ERR_RAND``.

    Poisson noise has variance mean / gain. The difference of two
    neighbouring pixels along the slit cancels the smooth background and
    keeps twice the noise variance; the largest :data:`SCATTER_TRIM` of the
    differences (auroras' edges, hot pixels) are left out. Without this, a
    file with no errors had no Poisson floor: at a few counts a pixel the
    median absolute deviation is 0 or one count, the background clipped at
    it came out low, and 87% of quiet nights passed the screen.
    """
    pairs = searched[:, 1:] & searched[:, :-1]
    if pairs.sum() < MIN_BAND_PIXELS:
        return 0.0
    difference = (brightness[:, 1:] - brightness[:, :-1])[pairs]
    level = 0.5 * (brightness[:, 1:] + brightness[:, :-1])[pairs]
    kept = np.abs(difference) <= np.quantile(np.abs(difference), 1.0 - SCATTER_TRIM)
    variance = 0.5 * float(np.mean(difference[kept] ** 2))
    mean = float(np.mean(level[kept]))
    return mean / variance if variance > 0 and mean > 0 else 0.0


def fast_median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty, NaN-free 1-D array, without its per-call overhead."""
    size = values.size
    middle = np.partition(values, [(size - 1) // 2, size // 2])
    return float((middle[(size - 1) // 2] + middle[size // 2]) / 2)
