"""Small synthetic scans with known answers, shared by the screen and fusion tests."""

from dataclasses import replace

import numpy as np

from marsaurora.emus import Observation

SHAPE = (120, 128)
GAIN = 4.0


def night_scan(background_r: float = 0.5, seed: int = 0, *, sza_deg: float = 140.0,
               blob_r: float = 0.0, blob_at: tuple[int, int] = (60, 64),
               blob_sigma_px: float = 3.0, limb_brightened: bool = False,
               max_emission_deg: float = 60.0, terminator_tail_r: float = 0.0,
               extra_r: np.ndarray | None = None, gain: float = GAIN) -> Observation:
    """A nightside scan with Poisson noise and, optionally, one Gaussian aurora.

    The emission angle runs from 0 to ``max_emission_deg`` across the slit;
    with ``limb_brightened`` the background grows as ``1 / cos(emission
    angle)`` (capped at 6). With ``terminator_tail_r`` the SZA falls from
    140 deg at the first integration to 98 deg at the last, and a dayglow
    tail of that brightness at SZA 90 falls off with a 3 deg e-folding.
    ``extra_r`` is added to the true brightness before the noise is drawn; ``gain`` is in
    counts per rayleigh.
    """
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    emission = (cols * max_emission_deg / (SHAPE[1] - 1)).astype(np.float32)
    slant = np.minimum(1.0 / np.cos(np.radians(emission)), 6.0) if limb_brightened else 1.0
    sza = np.full(SHAPE, sza_deg, np.float32)
    tail = 0.0
    if terminator_tail_r:
        sza = (140.0 - rows * 42.0 / (SHAPE[0] - 1)).astype(np.float32)
        tail = terminator_tail_r * np.exp(-(sza - 90.0) / 3.0)
    truth = (background_r + tail) * slant + blob_r * np.exp(
        -((rows - blob_at[0]) ** 2 + (cols - blob_at[1]) ** 2) / (2 * blob_sigma_px**2))
    if extra_r is not None:
        truth = truth + extra_r
    counts = np.random.default_rng(seed).poisson(gain * truth).astype(np.float32)
    full = np.full(SHAPE, 1.0, np.float32)
    return Observation(
        name="night.fits", filename=None,
        brightness_r=counts / gain, brightness_err_r=np.sqrt(counts) / gain,
        lat_deg=(rows - 60.0).astype(np.float32) * 0.5, lon_deg=(cols * 0.5).astype(np.float32),
        lat_corners_deg=np.zeros((4,) + SHAPE, np.float32),
        lon_corners_deg=np.zeros((4,) + SHAPE, np.float32),
        sza_deg=sza, emission_deg=emission, local_time_h=full * 0.0,
        mrh_alt_km=full * -100.0, time_utc=(), radiance_axes="nint,npix", centre_point=0)


def fitted(observation: Observation, offset_r: float, scatter_r: float,
           seed: int) -> Observation:
    """``observation`` as a fit over a background could give it, breaking the Poisson rule:
    ``offset_r`` more brightness than its errors account for, and Gaussian scatter of
    ``scatter_r`` (drawn from ``seed``) that its errors carry in quadrature."""
    scatter = np.random.default_rng(seed).normal(0.0, scatter_r, observation.shape)
    return replace(
        observation,
        brightness_r=(observation.brightness_r + offset_r + scatter).astype(np.float32),
        brightness_err_r=np.sqrt(observation.brightness_err_r**2 + scatter_r**2
                                 ).astype(np.float32))
