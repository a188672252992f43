"""Ls and the Sun's distance against published values."""

from datetime import datetime, timedelta

import pytest

from marsaurora.mars_time import days_since_j2000_tt, solar_longitude_deg, sun_distance_au


def test_the_worked_example_of_allison_and_mcewen():
    """Mars24's worked example (Allison & McEwen 2000): 2000-01-06 00:00 UTC."""
    moment = datetime(2000, 1, 6)
    assert days_since_j2000_tt(moment) == pytest.approx(4.5, abs=0.001)
    assert solar_longitude_deg(moment) == pytest.approx(277.18758, abs=0.01)
    assert sun_distance_au(moment) == pytest.approx(1.39, abs=0.01)


@pytest.mark.parametrize("start", [datetime(2019, 3, 23), datetime(2021, 2, 7),
                                   datetime(2022, 12, 26)])
def test_martian_years_35_to_37_start_at_ls_zero(start):
    """Mars Year starts of the Piqueux et al. (2015) calendar: Ls = 0 on these UTC days."""
    ls = solar_longitude_deg(start.replace(hour=12))
    assert min(ls, 360.0 - ls) < 0.6


def test_perihelion_and_aphelion_fall_near_ls_251_and_71():
    moments = [datetime(2022, 1, 1) + timedelta(days=day) for day in range(0, 687, 3)]
    distances = {solar_longitude_deg(moment): sun_distance_au(moment) for moment in moments}
    nearest = min(distances, key=distances.get)
    farthest = max(distances, key=distances.get)
    assert abs(nearest - 251) < 3 and abs(farthest - 71) < 3
    assert min(distances.values()) == pytest.approx(1.381, abs=0.005)
    assert max(distances.values()) == pytest.approx(1.666, abs=0.005)
