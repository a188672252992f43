"""Render the O I 130.4 nm brightness as the paper's 640x480 disk heatmap.

The paper plotted the log brightness with matplotlib, resized it to 640x480
and cropped it to the disk, whose circular mask is 170 px in radius at
(320, 230). We draw the same picture directly: the disk's limb is found in
the scan (where on-disk pixels meet observed sky), fitted with an ellipse,
and mapped by one affine transform onto that 170 px circle, so the disk is
round and centred whatever the scan's step and slit orientation. Colours are
interpolated bilinearly (NaN-aware), like the paper's resized PNG, so
detector noise does not turn into blocky edges; the map from each heatmap
pixel to its nearest (integration, slit pixel) is kept so later stages can
locate detections on Mars. Colouring is a lookup table (numpy + an OpenCV
colour map), about six times cheaper than a matplotlib savefig.
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from marsaurora.emus import Observation

WIDTH_PX, HEIGHT_PX = 640, 480
PNG_PARAMS = ([cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE, cv2.IMWRITE_PNG_COMPRESSION, 1]
              if hasattr(cv2, "IMWRITE_PNG_FILTER") else [cv2.IMWRITE_PNG_COMPRESSION, 1])
"""Heatmaps are colour-mapped, so neighbouring bytes do not predict each other and PNG's row
filters only cost time (and bytes; docs/performance.md). Lossless either way; an OpenCV
without the filter choice keeps its own."""
DISK_CENTRE_PX = (320.0, 230.0)
DISK_RADIUS_PX = 170.0
NO_SOURCE = -1
DEFAULT_RANGE_R = (0.1, 400.0)
"""Brightness (R) at the bottom and top of the log colour scale."""
EXCESS_VIEW_NIGHT_R = 0.5
"""The uniform night an excess view draws the excess over (:func:`render_excess_heatmap`): within
the format page's night glow of 0.01 to about 1 R. Chosen on the OOD calibration sets and the
aurora-free sets (docs/screens.md, "Why the detector also sees the excess"): over 0.2 and 1.5 R
one OOD quiet night's limb misfit got a confident box, over 0.5 R none did."""


@dataclass(frozen=True)
class DiskFit:
    """The disk in scan coordinates (x = slit pixel, y = integration).

    ``shape_matrix`` ``M`` defines the limb: ``(q - centre)^T M (q - centre) = 1``.
    """

    centre: tuple[float, float]
    shape_matrix: np.ndarray
    method: str
    """``"limb"`` (ellipse through limb points) or ``"extent"`` (fallback)."""


@dataclass(frozen=True, eq=False)
class HeatmapFrame:
    """Where the scan lands in the 640x480 heatmap, without the picture.

    This is all the physical screen needs (to box its candidates), so the
    chain's classify step loads only this and skips fetching and decoding the
    PNG and recomputing the per-pixel source maps.

    Attributes
    ----------
    scan_to_px : numpy.ndarray
        ``(2, 3)`` affine map from scan ``(slit pixel, integration)`` to
        heatmap ``(x, y)``.
    """

    scan_to_px: np.ndarray
    disk: DiskFit
    log_range_r: tuple[float, float]

    def to_px(self, integration: np.ndarray | float,
              slit_pixel: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Heatmap ``(x, y)`` of scan positions (fractional indices allowed)."""
        i = np.asarray(integration, dtype=float)
        p = np.asarray(slit_pixel, dtype=float)
        m = self.scan_to_px
        return m[0, 0] * p + m[0, 1] * i + m[0, 2], m[1, 0] * p + m[1, 1] * i + m[1, 2]


@dataclass(frozen=True, eq=False)
class Heatmap(HeatmapFrame):
    """The 640x480 RGB picture with its way back to the detector.

    Attributes
    ----------
    rgb : numpy.ndarray
        ``(480, 640, 3)`` uint8, RGB order.
    integration, slit_pixel : numpy.ndarray
        ``(480, 640)`` int16: which detector pixel each heatmap pixel shows,
        :data:`NO_SOURCE` where it shows none.
    """

    rgb: np.ndarray
    integration: np.ndarray
    slit_pixel: np.ndarray

    def write_png(self, path: Path) -> None:
        """Write the heatmap as a PNG (only when asked: encoding costs time).

        Python writes the file, not ``cv2.imwrite``, which crashes the
        process on a path holding a byte the file system could not decode.
        """
        path.write_bytes(self.png_bytes())

    def png_bytes(self) -> bytes:
        """The heatmap encoded as PNG, for storing in a bucket."""
        return encode_png(self.rgb)

    @classmethod
    def restore(cls, png: bytes, shape: tuple[int, int], frame: HeatmapFrame) -> "Heatmap":
        """Rebuild a stored heatmap from its PNG and its frame.

        The per-pixel source maps are recomputed from ``scan_to_px`` rather
        than stored: they are derived data, and recomputing them is cheaper
        than moving them through the bucket.
        """
        rgb = decode_png(png)
        _, _, slit_index, integ_index = _source_maps(frame.scan_to_px, shape)
        return cls(scan_to_px=frame.scan_to_px, disk=frame.disk, log_range_r=frame.log_range_r,
                   rgb=rgb, integration=integ_index, slit_pixel=slit_index)


def fit_disk(observation: Observation) -> DiskFit:
    """Locate the disk in the scan from its limb, or from its extent if no limb is seen."""
    disk = observation.on_disk
    sky = ~disk & np.isfinite(observation.mrh_alt_km)
    if not sky.any():
        sky = ~disk & disk.any(axis=0)[None, :] & disk.any(axis=1)[:, None]
    points = _limb_points(disk, sky)
    fit = _fit_ellipse(points) if len(points) >= 12 else None
    if fit is not None and _plausible(fit, disk):
        return fit
    rows, cols = np.nonzero(disk)
    half_x = max((cols.max() - cols.min() + 1) / 2.0, 1.0)
    half_y = max((rows.max() - rows.min() + 1) / 2.0, 1.0)
    return DiskFit(centre=((cols.max() + cols.min()) / 2.0, (rows.max() + rows.min()) / 2.0),
                   shape_matrix=np.diag([1 / half_x**2, 1 / half_y**2]), method="extent")


def _limb_points(disk: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Midpoints (x, y) between on-disk pixels and neighbouring observed sky."""
    along_slit = (disk[:, :-1] & sky[:, 1:]) | (sky[:, :-1] & disk[:, 1:])
    along_scan = (disk[:-1, :] & sky[1:, :]) | (sky[:-1, :] & disk[1:, :])
    rows, cols = np.nonzero(along_slit)
    first = np.column_stack([cols + 0.5, rows.astype(float)])
    rows, cols = np.nonzero(along_scan)
    second = np.column_stack([cols.astype(float), rows + 0.5])
    return np.concatenate([first, second])


def _fit_ellipse(points: np.ndarray) -> DiskFit | None:
    """Least-squares conic through the limb points, if it is an ellipse."""
    scale = points.std(axis=0).mean() or 1.0
    offset = points.mean(axis=0)
    x, y = ((points - offset) / scale).T
    design = np.column_stack([x * x, x * y, y * y, x, y, np.ones_like(x)])
    _, _, vt = np.linalg.svd(design, full_matrices=False)
    a, b, c, d, e, f = vt[-1]
    if b * b - 4 * a * c >= 0:
        return None
    quadratic = np.array([[a, b / 2], [b / 2, c]])
    centre = np.linalg.solve(2 * quadratic, -np.array([d, e]))
    constant = f + 0.5 * (d * centre[0] + e * centre[1])
    if constant == 0:
        return None
    shape = -quadratic / constant
    if np.any(np.linalg.eigvalsh(shape) <= 0):
        return None
    centre_scan = centre * scale + offset
    return DiskFit(centre=(float(centre_scan[0]), float(centre_scan[1])),
                   shape_matrix=shape / scale**2, method="limb")


def _plausible(fit: DiskFit, disk: np.ndarray) -> bool:
    """Reject fits that a few noisy limb points bent into nonsense."""
    semi_axes = 1.0 / np.sqrt(np.linalg.eigvalsh(fit.shape_matrix))
    nint, npix = disk.shape
    if semi_axes.max() > 4 * max(nint, npix) or semi_axes.max() > 4 * semi_axes.min():
        return False
    rows, cols = np.nonzero(disk)
    q = np.column_stack([cols - fit.centre[0], rows - fit.centre[1]])
    inside = np.einsum("ni,ij,nj->n", q, fit.shape_matrix, q) <= 1.05
    return inside.mean() > 0.95


def _affine_scan_to_px(fit: DiskFit) -> np.ndarray:
    eigenvalues, vectors = np.linalg.eigh(fit.shape_matrix)
    stretch = DISK_RADIUS_PX * (vectors * np.sqrt(eigenvalues)) @ vectors.T
    translation = np.array(DISK_CENTRE_PX) - stretch @ np.array(fit.centre)
    return np.column_stack([stretch, translation])


def render_heatmap(observation: Observation, *, min_r: float = DEFAULT_RANGE_R[0],
                   max_r: float = DEFAULT_RANGE_R[1],
                   colormap: int = cv2.COLORMAP_INFERNO) -> Heatmap:
    """Log-scaled 640x480 heatmap of the 130.4 nm brightness, centred on the disk.

    Parameters
    ----------
    observation : Observation
        The scan to draw.
    min_r, max_r : float
        Brightness (rayleigh) at the bottom and top of the log colour scale;
        a fixed scale keeps images comparable for the detector.
    colormap : int
        An OpenCV colour map id.

    Returns
    -------
    Heatmap
    """
    if not 0 < min_r < max_r:
        raise ValueError(f"need 0 < min_r < max_r, got min_r={min_r!r}, max_r={max_r!r}")
    fit = fit_disk(observation)
    frame = HeatmapFrame(scan_to_px=_affine_scan_to_px(fit), disk=fit,
                         log_range_r=(min_r, max_r))
    return _drawn(observation.brightness_r, frame, colormap)


def render_excess_heatmap(observation: Observation, excess_r: np.ndarray, searched: np.ndarray,
                          frame: HeatmapFrame, *, night_r: float = EXCESS_VIEW_NIGHT_R,
                          colormap: int = cv2.COLORMAP_INFERNO) -> Heatmap:
    """The heatmap, drawn on ``frame`` (the scan's own heatmap's), with the night the screen
    searched drawn as its excess over a uniform night of ``night_r``.

    The network learnt auroras over nights of 0.01-1 R; over the bright limb of a lumpier,
    brighter night glow, or over the dayglow tail, the same aurora is a faint step on a steep
    slope of the log scale, and it draws no box. Drawn over a uniform night, the excess the
    screen measured (``excess_r`` over the ``searched`` pixels) looks like what it learnt.
    The rest (the sunlit disk, the sky and its limb) is drawn as it is, so the picture is
    still a scan of Mars: with the whole disk flattened the network boxed two limb misfits of
    aurora-free calibration scans that it leaves alone this way (docs/screens.md). On the
    heatmap's frame and colour scale, a box on either picture is a box on both.
    """
    brightness = np.where(searched, excess_r + night_r, observation.brightness_r)
    return _drawn(brightness.astype(observation.brightness_r.dtype), frame, colormap)


def _drawn(brightness_r: np.ndarray, frame: HeatmapFrame, colormap: int) -> Heatmap:
    """``brightness_r`` coloured on the log scale of ``frame``, where ``frame`` puts it."""
    min_r, max_r = frame.log_range_r
    slit, integ, slit_index, integ_index = _source_maps(frame.scan_to_px, brightness_r.shape)
    inside = slit_index != NO_SOURCE

    scaled = log_scaled(brightness_r, min_r=min_r, max_r=max_r)
    valid = np.isfinite(scaled)
    weight = cv2.remap(valid.astype(np.float32), slit, integ, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    total = cv2.remap(np.where(valid, scaled, 0).astype(np.float32), slit, integ,
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    shown = inside & (weight >= 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / weight
    levels = np.where(shown, np.rint(mean * 254) + 1, 0).astype(np.uint8)
    rgb = cv2.LUT(cv2.merge((levels, levels, levels)), colour_table(colormap)[:, None, :])
    return Heatmap(rgb=rgb, integration=integ_index, slit_pixel=slit_index,
                   scan_to_px=frame.scan_to_px, disk=frame.disk, log_range_r=frame.log_range_r)


def _source_maps(scan_to_px: np.ndarray, shape: tuple[int, int]) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scan position of every heatmap pixel: fractional, and nearest as indices."""
    px_to_scan = cv2.invertAffineTransform(scan_to_px).astype(np.float32)
    xs = np.arange(WIDTH_PX, dtype=np.float32)[None, :]
    ys = np.arange(HEIGHT_PX, dtype=np.float32)[:, None]
    slit = px_to_scan[0, 0] * xs + px_to_scan[0, 1] * ys + px_to_scan[0, 2]
    integ = px_to_scan[1, 0] * xs + px_to_scan[1, 1] * ys + px_to_scan[1, 2]
    nint, npix = shape
    slit_near, integ_near = np.rint(slit), np.rint(integ)
    inside = (slit_near >= 0) & (slit_near < npix) & (integ_near >= 0) & (integ_near < nint)
    slit_index = np.where(inside, slit_near, NO_SOURCE).astype(np.int16)
    integ_index = np.where(inside, integ_near, NO_SOURCE).astype(np.int16)
    return slit, integ, slit_index, integ_index


def encode_png(rgb: np.ndarray) -> bytes:
    """An RGB image as PNG bytes."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), PNG_PARAMS)
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    return encoded.tobytes()


def decode_png(png: bytes) -> np.ndarray:
    """A stored heatmap PNG back to its ``(480, 640, 3)`` RGB pixels.

    Raises
    ------
    ValueError
        When the bytes are not a colour PNG of the heatmap's size.
    """
    decoded = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None or decoded.shape != (HEIGHT_PX, WIDTH_PX, 3):
        raise ValueError(f"stored heatmap is not a {WIDTH_PX}x{HEIGHT_PX} colour PNG")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def log_scaled(brightness_r: np.ndarray, *, min_r: float, max_r: float) -> np.ndarray:
    """``log10`` brightness scaled to 0-1 between ``min_r`` and ``max_r``; NaN stays NaN."""
    clipped = np.clip(brightness_r, min_r, max_r)
    return ((np.log10(clipped) - np.log10(min_r)) / (np.log10(max_r) - np.log10(min_r)))


@lru_cache(maxsize=8)
def colour_table(colormap: int) -> np.ndarray:
    """``(256, 3)`` RGB lookup table, read-only; entry 0 (no data) is black."""
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    table = cv2.cvtColor(cv2.applyColorMap(ramp, colormap), cv2.COLOR_BGR2RGB).reshape(256, 3)
    table[0] = 0
    table.flags.writeable = False
    return table
