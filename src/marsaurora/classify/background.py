"""The night glow under an aurora: a background model fitted on the scan itself.

Used by :mod:`marsaurora.classify.excess`, which fits it twice per scan (the
second time without what the first found). The model, in rayleigh:

- a surface over (solar zenith angle, emission angle): clipped means in cells
  (fine bands of SZA near the terminator, rings of emission angle narrowing
  towards the limb), read smoothly at every pixel in log (:func:`_surface`);
- times the large-scale structure of the airglow on the planet, a low-order
  polynomial of the surface normal (:func:`_planet_factor`);
- times a smooth factor per block of the scan for what is left (:class:`_Blocks`).

Its noise is the larger of the Poisson error the background implies, the
robust scatter of the residuals per block, and a floor.

Where the night is a small part of the disk, a cell is no larger than a wide
aurora, and a free cell takes such an aurora as its own background; the excess
map's first fit lowers the cells that stand out of a stiff surface through
their neighbours (``stiff``), so it finds the aurora and the final fit leaves
it out (docs/screens.md, "Why the first pass lowers cells that stand out").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from marsaurora.classify.noise import MIN_BAND_PIXELS, fast_median, poisson_sigma
from marsaurora.emus import Observation
from marsaurora.mars import unit_vectors

BACKGROUND_BLOCK_PX = 24
MIN_BLOCK_FILL = 0.2
MAD_TO_SIGMA = 1.4826
MIN_CELL_PIXELS = 8
SZA_CONTEXT_DEG = 6.0
"""The background surface is fitted from this far on the day side of the search, so it is
interpolated, not extrapolated, at the search's edge."""
SZA_FINE_STEP_DEG = 1.5
SZA_FINE_SPAN_DEG = 24.0
SZA_COARSE_STEP_DEG = 5.0
EMISSION_EDGES_DEG = (0.0, 20.0, 35.0, 45.0, 52.0, 58.0, 63.0, 67.0, 70.0, 73.0, 75.5, 78.0,
                      80.0, 82.0, 83.5, 85.0, 87.0, 90.0)
"""Rings of emission angle, narrower towards the limb where the slant path changes fastest."""
RING_CENTRES_DEG = (np.array(EMISSION_EDGES_DEG[:-1]) + np.array(EMISSION_EDGES_DEG[1:])) / 2
"""Their centres, where each ring's cells are read and where the stiff surface's limb starts."""
PROFILE_FLOOR_R = 1e-3
STIFF_PENALTY = 3.0
"""Weight of the stiff surface's second differences (in log), in units of its median cell's
weight: enough that it cannot follow an aurora filling a few cells (docs/screens.md, "Why the
first pass lowers cells that stand out")."""
STIFF_LIMB_EMISSION_DEG = 70.0
STIFF_TAIL_RATIO = 3.0
STIFF_LIGHT_SCALE = 0.1
"""Beyond :data:`STIFF_LIMB_EMISSION_DEG`, and in bands of SZA whose median cell is more than
:data:`STIFF_TAIL_RATIO` times the darkest band's (the dayglow's tail), the stiff surface's
differences weigh this much (its penalty this squared): there the glow bends faster than a
stiff surface follows, and the cells it then finds standing out are misfit, not aurora."""
STIFF_MODEL_FLOOR = 0.05
"""Relative error no cell is trusted beyond, however many its counts: a model error."""
STIFF_CLIP_SIGMA = 2.5
STIFF_ROUNDS = 4
"""A cell more than :data:`STIFF_CLIP_SIGMA` over the stiff surface stands out: it is left
out and the surface fitted again, this many times at most, fewer once the same cells stand
out twice."""
PLANET_DEGREE = 3
"""Degree of the polynomial of the surface normal the airglow's large-scale structure is fitted
with: structure on scales of a third of the disk and more, never an aurora's."""
PLANET_PIXELS_PER_TERM = 25
"""Fewer searched pixels than this per polynomial term lower the degree (none below 4 terms)."""
PLANET_RIDGE = 1e-2
"""Pull of the fit towards a flat factor of 1, relative to the data's weight: a hole the first
pass masked out, or a corner of the disk with few pixels, is bridged smoothly, not extrapolated
wildly (at 1e-3 a 16-pixel limb corner of a held-out quiet night read 7.6 sigma; at 1e-2 4.3,
with the training-range and OOD calibration sets unchanged)."""


def fit_background(brightness: np.ndarray, searched: np.ndarray, context: np.ndarray,
                   observation: Observation, sza_min_deg: float, min_sigma_r: float,
                   counts_per_r: float, planet: PlanetBasis,
                   stiff: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Background and noise at every pixel (R), fitted on the ``searched`` and ``context``
    pixels given (the second pass leaves out what the first found).

    ``stiff`` lowers the cells that stand out of a stiff surface through their neighbours to
    that surface (:func:`_lowered_where_raised`): the excess map's first pass, which draws
    what the final fit leaves out, so that a wide aurora filling a few cells is found; the
    final fit keeps every cell free, to follow the night glow closely.
    """
    surface = _surface(brightness, context, observation, sza_min_deg, counts_per_r, stiff)
    surface = surface * _planet_factor(brightness, surface, searched, planet, counts_per_r)
    blocks = _Blocks.of(searched)
    background = surface * _block_ratio(brightness, surface, searched, blocks, counts_per_r)
    scatter = MAD_TO_SIGMA * blocks.median(np.abs(brightness - background)[searched])
    poisson = (poisson_sigma(background, counts_per_r) if counts_per_r > 0
               else np.zeros_like(background))
    return background, np.maximum(np.maximum(poisson, scatter), min_sigma_r)


@dataclass(frozen=True, eq=False)
class PlanetBasis:
    """Monomials of the surface normal (planet frame) up to :data:`PLANET_DEGREE`, at the
    pixels the background is fitted on and their neighbours, lowest degree first."""

    where: np.ndarray
    """Those pixels, where latitude and longitude are finite."""
    terms: np.ndarray
    """``(where.sum(), terms)``."""
    degree_terms: tuple[int, ...]
    """How many leading terms make each degree 0, 1, 2, ..."""

    @classmethod
    def of(cls, observation: Observation, pixels: np.ndarray) -> "PlanetBasis":
        where = pixels & np.isfinite(observation.lat_deg) & np.isfinite(observation.lon_deg)
        axes = unit_vectors(observation.lat_deg[where].astype(np.float64),
                            observation.lon_deg[where].astype(np.float64)).T
        powers = [[np.ones_like(axis), axis] for axis in axes]
        for axis, own in zip(axes, powers, strict=True):
            while len(own) <= PLANET_DEGREE:
                own.append(own[-1] * axis)
        terms, degree_terms = [], []
        for degree in range(PLANET_DEGREE + 1):
            for i in range(degree + 1):
                for j in range(degree + 1 - i):
                    terms.append(powers[0][i] * powers[1][j] * powers[2][degree - i - j])
            degree_terms.append(len(terms))
        return cls(where, np.stack(terms, axis=1), tuple(degree_terms))


def _planet_factor(brightness: np.ndarray, surface: np.ndarray, searched: np.ndarray,
                   planet: PlanetBasis, counts_per_r: float) -> np.ndarray:
    """Large-scale structure of the night glow on the planet, as a factor on ``surface``.

    The cells of :func:`_surface` hold one value per (solar zenith angle,
    emission angle); a night glow brighter over one region of the planet
    than another is not a function of those two. Detector blocks follow such
    structure in the middle of the disk but not at the limb, where a
    thousand kilometres of planet fall into two or three pixels and their
    brightening by the slant path multiplies the difference. So the factor
    lives on the planet: a polynomial of the surface normal, fitted by
    weighted least squares to the brightness clipped at 3 sigma above the
    surface (auroras barely count), pulled towards 1 by
    :data:`PLANET_RIDGE`, of lower degree when few pixels are searched.
    """
    factor = np.ones_like(surface)
    use = searched[planet.where] & (surface[planet.where] > 0)
    terms = max((count for count in planet.degree_terms
                 if use.sum() >= PLANET_PIXELS_PER_TERM * count), default=0)
    if terms < planet.degree_terms[1]:
        return factor
    expected = surface[planet.where][use]
    spread = (poisson_sigma(expected, counts_per_r) if counts_per_r > 0
              else np.maximum(0.1 * expected, PROFILE_FLOOR_R))
    clipped = np.minimum(brightness[planet.where][use], expected + 3.0 * spread)
    weighted = planet.terms[use, :terms] * (expected / spread)[:, None]
    normal = weighted.T @ weighted
    ridge = PLANET_RIDGE * np.trace(normal) / terms
    flat = np.zeros(terms)
    flat[0] = 1.0
    coefficients = np.linalg.solve(normal + ridge * np.eye(terms),
                                   weighted.T @ (clipped / spread) + ridge * flat)
    factor[planet.where] = np.clip(planet.terms[:, :terms] @ coefficients, 0.2, 5.0)
    return factor


def _filled(grid: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Empty cells filled from their neighbours, ring by ring outwards from the known ones."""
    grid = np.where(known, grid, 0.0)
    known = known.copy()
    while not known.all():
        values = np.where(known, grid, 0.0)
        weights = known.astype(float)
        total, count = np.zeros_like(values), np.zeros_like(values)
        for target, source in (((slice(1, None),), (slice(None, -1),)),
                               ((slice(None, -1),), (slice(1, None),)),
                               ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                               ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
            total[target] += values[source]
            count[target] += weights[source]
        reached = ~known & (count > 0)
        grid[reached] = total[reached] / count[reached]
        known |= reached
    return grid


def _bilinear(grid: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """``grid`` read at fractional ``(row, col)`` positions inside it."""
    top = np.minimum(np.floor(row).astype(int), grid.shape[0] - 1)
    left = np.minimum(np.floor(col).astype(int), grid.shape[1] - 1)
    bottom = np.minimum(top + 1, grid.shape[0] - 1)
    right = np.minimum(left + 1, grid.shape[1] - 1)
    down, across = row - top, col - left
    upper = grid[top, left] * (1 - across) + grid[top, right] * across
    lower = grid[bottom, left] * (1 - across) + grid[bottom, right] * across
    return upper * (1 - down) + lower * down


def _block_ratio(brightness: np.ndarray, surface: np.ndarray, searched: np.ndarray,
                 blocks: _Blocks, counts_per_r: float) -> np.ndarray:
    """Large-scale airglow structure the surface misses, as a smooth factor per block.

    The ratio of summed brightness (clipped at 3 sigma above the surface) to
    summed surface, per block of searched pixels. The clip bounds what each
    pixel of an aurora adds, not how many pixels add it: over a 0.8 R night at
    4 counts per rayleigh, 3 sigma is nearly twice the night, and a 30 R spot
    lifts its block's factor by half. The excess map's second fit, without
    what the first found, is what keeps an aurora out of its own background.
    """
    expected = surface[searched]
    spread = (poisson_sigma(expected, counts_per_r) if counts_per_r > 0
              else np.zeros_like(expected))
    clipped = np.minimum(brightness[searched], expected + 3.0 * spread)
    return np.clip(blocks.ratio(clipped, expected), 0.2, 5.0)


def _surface(brightness: np.ndarray, context: np.ndarray, observation: Observation,
             sza_min_deg: float, counts_per_r: float, stiff: bool) -> np.ndarray:
    """Background as a smooth surface over (solar zenith angle, emission angle).

    A grid of cells: fine bands of SZA near the terminator (coarse beyond) by
    rings of emission angle, each holding the robust mean brightness of its
    context pixels (:func:`_free_grid`; ``stiff``, those standing out of a
    stiff surface lowered to it). Every pixel reads the grid bilinearly
    at its own SZA and emission angle, in log (exact for an exponential
    fall-off past the terminator). A dayglow tail and a night airglow that
    brighten towards the limb by different laws are both followed, with no
    law assumed.
    """
    sza_edges = np.concatenate([
        np.arange(sza_min_deg - SZA_CONTEXT_DEG, sza_min_deg + SZA_FINE_SPAN_DEG,
                  SZA_FINE_STEP_DEG),
        np.arange(sza_min_deg + SZA_FINE_SPAN_DEG, 180.0 + SZA_COARSE_STEP_DEG,
                  SZA_COARSE_STEP_DEG)])
    ring_edges = np.array(EMISSION_EDGES_DEG)
    rows, cols = sza_edges.size - 1, ring_edges.size - 1
    sza, emission = observation.sza_deg, observation.emission_deg
    values = brightness[context]
    band = np.clip(np.digitize(sza[context], sza_edges) - 1, 0, rows - 1)
    ring = np.clip(np.digitize(emission[context], ring_edges) - 1, 0, cols - 1)
    sums, sizes = _grouped_clipped_sums(values, band * cols + ring, rows * cols, counts_per_r)
    sums, sizes = sums.reshape(rows, cols), sizes.reshape(rows, cols).astype(np.float64)
    surface = np.zeros(brightness.shape)
    grid = _free_grid(sums, sizes)
    if grid is not None and stiff:
        grid = _lowered_where_raised(grid, sums, sizes, counts_per_r)
    if grid is None:
        surface[context] = max(fast_median(values), PROFILE_FLOOR_R)
        return surface
    wanted = observation.on_disk & np.isfinite(sza) & np.isfinite(emission)
    band_centres = (sza_edges[:-1] + sza_edges[1:]) / 2
    at_row = np.interp(sza[wanted], band_centres, np.arange(rows))
    at_col = np.interp(emission[wanted], RING_CENTRES_DEG, np.arange(cols))
    read = _bilinear(grid, at_row, at_col)
    surface[wanted] = np.exp(read)
    return surface


def _free_grid(sums: np.ndarray, sizes: np.ndarray) -> np.ndarray | None:
    """Log mean brightness per cell, each cell on its own; None when no cell has pixels enough.

    A cell with :data:`MIN_CELL_PIXELS` pixels holds their mean; a cell with
    fewer (the corner where the terminator meets the limb of a small disk)
    pools the pixels of its eight neighbours; cells still without are filled
    from their neighbours' values.
    """
    pooled_sums = cv2.boxFilter(sums, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    pooled_sizes = cv2.boxFilter(sizes, -1, (3, 3), normalize=False,
                                 borderType=cv2.BORDER_CONSTANT)
    alone = sizes >= MIN_CELL_PIXELS
    known = alone | (pooled_sizes >= MIN_CELL_PIXELS)
    if not known.any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(alone, sums / sizes, pooled_sums / pooled_sizes)
    grid = np.log(np.maximum(np.where(known, means, PROFILE_FLOOR_R), PROFILE_FLOOR_R))
    return grid if known.all() else _filled(grid, known)


def _lowered_where_raised(grid: np.ndarray, sums: np.ndarray, sizes: np.ndarray,
                          counts_per_r: float) -> np.ndarray:
    """``grid`` with the cells that stand out of a stiff surface through their neighbours
    lowered to it.

    Where the night is a small part of the disk, a cell near the terminator
    is 4 by 5-8 pixels, smaller than a wide aurora, and a free cell takes
    the aurora as its own background. A stiff surface cannot: the cells'
    log means fitted by weighted least squares (each weighed by its
    relative Poisson error, with a floor of :data:`STIFF_MODEL_FLOOR`) with
    a penalty on the second differences along both axes
    (:data:`STIFF_PENALTY`, lighter by :data:`STIFF_LIGHT_SCALE` at the
    limb and in the dayglow's tail), cells standing out left out round by
    round. Only those cells change: elsewhere a stiff surface misses the
    glow by a few percent, which at tens of counts per rayleigh is many
    sigma. The solve is kept defined by a vanishing pull towards the cells'
    mean level, so cells too few to fix a plane give a level surface, not a
    tilted one.
    """
    filled = sizes > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.maximum(np.where(filled, sums / np.where(filled, sizes, 1.0), 0.0),
                           10 * PROFILE_FLOOR_R)
    target = np.log(level).ravel()
    photons = sizes * (level * counts_per_r if counts_per_r > 0 else 1.0)
    relative_variance = (1.0 / np.maximum(photons, 1e-9) + STIFF_MODEL_FLOOR**2).ravel()
    weight = np.where(filled.ravel(), 1.0 / relative_variance, 0.0)
    mean = float(np.average(target, weights=weight))
    penalty = (STIFF_PENALTY * float(np.median(weight[weight > 0]))
               * _curvature(_difference_scale(target.reshape(sizes.shape), filled)))
    raised = np.zeros(target.size, bool)
    diagonal = np.diag_indices(target.size)
    for _ in range(STIFF_ROUNDS):
        used = np.where(raised, 0.0, weight)
        normal = penalty.copy()
        normal[diagonal] += used
        normal[diagonal] += 1e-9
        fit = _solve_banded(normal, used * (target - mean), 2 * grid.shape[1]) + mean
        was, raised = raised, (target - fit) / np.sqrt(relative_variance) > STIFF_CLIP_SIGMA
        if np.array_equal(raised, was):
            break
    return np.where(raised.reshape(grid.shape), fit.reshape(grid.shape), grid)


def _solve_banded(matrix: np.ndarray, rhs: np.ndarray, bandwidth: int) -> np.ndarray:
    """``matrix @ x = rhs`` for a symmetric positive definite ``matrix`` that is zero more than
    ``bandwidth`` off its diagonal, by block elimination in blocks of that size.

    The stiff surface's normal equations couple a cell only to the cells two bands and two
    rings away, so in blocks of two bands the matrix is block tridiagonal: some 16 solves of
    34 unknowns instead of one of 544, a fifth of the time (the dense solve was a third of the
    excess map). Positive definite Schur complements need no pivoting between blocks.
    """
    size = rhs.size
    spans = [slice(start, min(start + bandwidth, size)) for start in range(0, size, bandwidth)]
    eliminated = []
    pivot, reduced = matrix[spans[0], spans[0]], rhs[spans[0]]
    for span, after in zip(spans[:-1], spans[1:], strict=True):
        solved = np.linalg.solve(pivot, np.column_stack([matrix[span, after], reduced]))
        eliminated.append((solved[:, :-1], solved[:, -1]))
        below = matrix[after, span]
        pivot = matrix[after, after] - below @ solved[:, :-1]
        reduced = rhs[after] - below @ solved[:, -1]
    solution = np.empty(size)
    solution[spans[-1]] = np.linalg.solve(pivot, reduced)
    for span, after, (coupling, own) in zip(spans[-2::-1], spans[:0:-1], eliminated[::-1],
                                            strict=True):
        solution[span] = own - coupling @ solution[after]
    return solution


def _difference_scale(log_level: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Weight of the second differences centred on each cell: 1, times
    :data:`STIFF_LIGHT_SCALE` beyond :data:`STIFF_LIMB_EMISSION_DEG` and again in the dayglow
    tail's bands."""
    band_level = _row_medians(np.where(filled, log_level, np.nan))
    tail = band_level > np.nanmin(band_level) + np.log(STIFF_TAIL_RATIO)
    limb = RING_CENTRES_DEG > STIFF_LIMB_EMISSION_DEG
    return (np.where(tail, STIFF_LIGHT_SCALE, 1.0)[:, None]
            * np.where(limb, STIFF_LIGHT_SCALE, 1.0)[None, :])


def _row_medians(values: np.ndarray) -> np.ndarray:
    """Median of each row's finite values, NaN for a row without any: one sort of the grid
    (``np.median`` row by row took a millisecond a fit)."""
    ordered = np.sort(values, axis=1)
    finite = np.isfinite(values).sum(axis=1)
    rows = np.arange(values.shape[0])
    medians = (ordered[rows, np.maximum(finite - 1, 0) // 2] + ordered[rows, finite // 2]) / 2
    return np.where(finite > 0, medians, np.nan)


def _curvature(scale: np.ndarray) -> np.ndarray:
    """``D.T @ D`` for the second differences ``D`` of a grid along both axes, each row of
    ``D`` weighed by ``scale`` at the cell it is centred on."""
    rows, cols = scale.shape
    index = np.arange(rows * cols).reshape(rows, cols)
    normal = np.zeros((rows * cols, rows * cols))
    for before, at, after in ((index[:-2, :], index[1:-1, :], index[2:, :]),
                              (index[:, :-2], index[:, 1:-1], index[:, 2:])):
        cells = (before.ravel(), at.ravel(), after.ravel())
        weight = scale.ravel()[at.ravel()] ** 2
        for first, a in zip(cells, (1.0, -2.0, 1.0), strict=True):
            for second, b in zip(cells, (1.0, -2.0, 1.0), strict=True):
                np.add.at(normal, (first, second), a * b * weight)
    return normal


@dataclass(frozen=True, eq=False)
class _Blocks:
    """Searched pixels grouped into blocks of about :data:`BACKGROUND_BLOCK_PX` square.

    A block with too few searched pixels takes the value of all of them;
    block values reach every pixel by bilinear interpolation between block
    centres.
    """

    shape: tuple[int, int]
    rows: int
    cols: int
    block: np.ndarray
    """Block of each searched pixel."""
    enough: np.ndarray

    @classmethod
    def of(cls, searched: np.ndarray) -> "_Blocks":
        nint, npix = searched.shape
        rows = max(1, round(nint / BACKGROUND_BLOCK_PX))
        cols = max(1, round(npix / BACKGROUND_BLOCK_PX))
        row_of = np.minimum(np.arange(nint) * rows // nint, rows - 1)
        col_of = np.minimum(np.arange(npix) * cols // npix, cols - 1)
        every = row_of[:, None] * cols + col_of[None, :]
        sizes = np.bincount(every[searched], minlength=rows * cols)
        whole = np.bincount(every.ravel(), minlength=rows * cols)
        enough = sizes >= np.maximum(MIN_BLOCK_FILL * whole, MIN_BAND_PIXELS)
        return cls(searched.shape, rows, cols, every[searched], enough)

    def median(self, values: np.ndarray) -> np.ndarray:
        """Median per block of ``values`` (one per searched pixel), at every pixel."""
        medians, _ = _grouped_medians(values, self.block, self.rows * self.cols)
        return self._spread(medians, fast_median(values))

    def ratio(self, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        """Summed ``numerator`` over summed ``denominator`` per block, at every pixel."""
        count = self.rows * self.cols
        top = np.bincount(self.block, weights=numerator, minlength=count)
        bottom = np.bincount(self.block, weights=denominator, minlength=count)
        overall = float(numerator.sum()) / max(float(denominator.sum()), 1e-12)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), overall)
        return self._spread(ratios, overall)

    def _spread(self, per_block: np.ndarray, overall: float) -> np.ndarray:
        grid = np.where(self.enough, per_block, overall).reshape(self.rows, self.cols)
        nint, npix = self.shape
        return cv2.resize(grid, (npix, nint), interpolation=cv2.INTER_LINEAR)


def _grouped_medians(values: np.ndarray, groups: np.ndarray,
                     count: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``values`` within each of ``count`` groups, in one sort; and each group's size.

    Groups with no member get NaN.
    """
    sizes = np.bincount(groups, minlength=count)
    low_value, high_value = float(values.min()), float(values.max())
    span = (high_value - low_value) or 1.0
    order = np.argsort(groups + 0.999 * (values - low_value) / span)
    ordered = values[order]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    filled = sizes > 0
    low = starts + (sizes - 1) // 2
    high = starts + sizes // 2
    medians = np.full(count, np.nan)
    medians[filled] = (ordered[low[filled]] + ordered[high[filled]]) / 2
    return medians, sizes


def _grouped_clipped_sums(values: np.ndarray, groups: np.ndarray, count: int,
                          counts_per_r: float) -> tuple[np.ndarray, np.ndarray]:
    """Sum of each group with its high tail clipped at 3 sigma above the group's median, and
    each group's size.

    Sums for means, not medians: at a few counts per pixel the Poisson median
    falls well below the mean (to zero below 0.7 counts). Clipped, so an
    aurora covering part of a group barely moves them. Sigma is the Poisson
    noise of the median, or the scaled median absolute deviation when the
    gain is not known.
    """
    medians, sizes = _grouped_medians(values, groups, count)
    if counts_per_r > 0:
        spread = poisson_sigma(np.nan_to_num(medians), counts_per_r)
    else:
        deviations, _ = _grouped_medians(np.abs(values - medians[groups]), groups, count)
        spread = MAD_TO_SIGMA * np.nan_to_num(deviations)
    clipped = np.minimum(values, (medians + 3.0 * spread)[groups])
    return np.bincount(groups, weights=clipped, minlength=count), sizes
