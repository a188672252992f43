"""The Martian season and the Sun's distance at a UTC instant (Allison & McEwen 2000).

Aurora papers plot occurrence against areocentric solar longitude (Ls): 0 deg
at the northern spring equinox, 90 at northern summer solstice. This is the
algorithm of Allison & McEwen (2000, Planet. Space Sci. 48, 215), the one
NASA GISS's Mars24 uses, good to about 0.01 deg over 1874-2026 and beyond.
"""

from datetime import datetime, timezone

import numpy as np

TT_MINUS_UTC_S = 69.184
"""Terrestrial Time minus UTC since 2017 (37 leap seconds + 32.184 s)."""
J2000_JD = 2451545.0
UNIX_EPOCH_JD = 2440587.5
MARS_SEMI_MAJOR_AXIS_AU = 1.52367934
_PERTURBERS = np.array([  # amplitude (deg), period (Julian years), phase (deg): Table 5
    (0.0071, 2.2353, 49.409), (0.0057, 2.7543, 168.173), (0.0039, 1.1177, 191.837),
    (0.0037, 15.7866, 21.736), (0.0021, 2.1354, 15.704), (0.0020, 2.4694, 95.528),
    (0.0018, 32.8493, 49.095)])


def days_since_j2000_tt(utc: datetime) -> float:
    """Days of Terrestrial Time since J2000 (2000-01-01 12:00 TT) at a UTC instant."""
    moment = utc if utc.tzinfo else utc.replace(tzinfo=timezone.utc)
    julian_day_utc = moment.timestamp() / 86400.0 + UNIX_EPOCH_JD
    return julian_day_utc + TT_MINUS_UTC_S / 86400.0 - J2000_JD


def _mean_anomaly_deg(days: float) -> float:
    return 19.3871 + 0.52402073 * days


def solar_longitude_deg(utc: datetime) -> float:
    """Areocentric solar longitude Ls at ``utc``, degrees in [0, 360)."""
    days = days_since_j2000_tt(utc)
    mean_anomaly = np.radians(_mean_anomaly_deg(days))
    fictitious_mean_sun = 270.3871 + 0.524038496 * days
    amplitude, period, phase = _PERTURBERS.T
    perturbations = float(np.sum(amplitude * np.cos(np.radians(
        0.985626 * days / period + phase))))
    equation_of_center = ((10.691 + 3.0e-7 * days) * np.sin(mean_anomaly)
                          + 0.623 * np.sin(2 * mean_anomaly) + 0.050 * np.sin(3 * mean_anomaly)
                          + 0.005 * np.sin(4 * mean_anomaly)
                          + 0.0005 * np.sin(5 * mean_anomaly) + perturbations)
    return float((fictitious_mean_sun + equation_of_center) % 360.0)


def sun_distance_au(utc: datetime) -> float:
    """Mars' distance from the Sun at ``utc``, astronomical units."""
    mean_anomaly = np.radians(_mean_anomaly_deg(days_since_j2000_tt(utc)))
    return float(MARS_SEMI_MAJOR_AXIS_AU * (
        1.00436 - 0.09309 * np.cos(mean_anomaly) - 0.004336 * np.cos(2 * mean_anomaly)
        - 0.00031 * np.cos(3 * mean_anomaly) - 0.00003 * np.cos(4 * mean_anomaly)))
