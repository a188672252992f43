"""Image sets: the swath files of one scan grouped as the EMUS team's retrieval routine groups
them, without letting a lost swath join two sets."""

import random

from astropy.table import Table

from marsaurora.catalog import write_catalog
from marsaurora.image_sets import image_sets

from helpers import write_jsonl


def _name(start: str, mode: str, swath: str, orbit: int = 191, version: str = "v01-04") -> str:
    return f"emm_emu_l2b_{start}_{orbit:04d}_{mode}_{swath}_r_{version}.fits.gz"


OS2_SET = [_name("20220331t212107", "os2", "sw1of3"), _name("20220331t214512", "os2", "sw2of3"),
           _name("20220331t220918", "os2", "sw3of3")]
NEXT_OS2_SET = [_name("20220401t011500", "os2", "sw1of3"),
                _name("20220401t013900", "os2", "sw2of3"),
                _name("20220401t020300", "os2", "sw3of3")]


def test_the_swaths_of_a_set_share_its_first_files_name_in_any_input_order():
    names = OS2_SET + NEXT_OS2_SET
    random.Random(3).shuffle(names)
    sets = image_sets(names)
    assert {sets[name] for name in OS2_SET} == {"20220331t212107_os2"}
    assert {sets[name] for name in NEXT_OS2_SET} == {"20220401t011500_os2"}


def test_a_lost_last_swath_does_not_join_two_sets():
    without_third = OS2_SET[:2] + NEXT_OS2_SET
    sets = image_sets(without_third)
    assert [sets[name] for name in without_third] == ["20220331t212107_os2"] * 2 + [
        "20220401t011500_os2"] * 3


def test_a_set_does_not_reach_into_another_orbit_or_swath_count():
    second = _name("20220331t214512", "os2", "sw2of3", orbit=192)
    two_swaths = _name("20220331t214512", "os2", "sw2of2")
    assert image_sets([OS2_SET[0], second])[second] == "20220331t214512_os2"
    assert image_sets([OS2_SET[0], two_swaths])[two_swaths] == "20220331t214512_os2"


def test_other_modes_between_the_swaths_leave_the_set_whole():
    ride_along = _name("20220331t213000", "osr", "sw1of1")
    sets = image_sets(OS2_SET + [ride_along])
    assert {sets[name] for name in OS2_SET} == {"20220331t212107_os2"}
    assert sets[ride_along] == "20220331t213000_osr"


def test_versions_of_one_swath_share_its_set():
    newer = OS2_SET[1].replace("v01-04", "v02-01")
    sets = image_sets(OS2_SET + [newer])
    assert sets[newer] == sets[OS2_SET[1]] == "20220331t212107_os2"


def test_files_that_name_no_swath_count_are_sets_of_their_own():
    integer_id = _name("20220331t213000", "os2", "12345")
    other = "my_scan.fits"
    sets = image_sets([OS2_SET[0], integer_id, OS2_SET[1], other])
    assert sets[integer_id] == "20220331t213000_os2" and sets[other] == "my_scan.fits"
    assert sets[OS2_SET[1]] == "20220331t214512_os2", "an unknown swath between closes the set"


def test_the_catalogue_gives_each_row_its_set_counting_files_without_auroras(tmp_path):
    detection = {"box_px": [1.0, 2.0, 3.0, 4.0], "lat_deg": -40.0, "lon_deg": 180.0}
    records = [{"observation": OS2_SET[0], "swath": "sw1of3", "detections": []},
               {"observation": OS2_SET[1], "swath": "sw2of3", "detections": [detection]},
               {"observation": "b.fits", "detections": [detection]}]
    path = write_jsonl(tmp_path / "observations.jsonl", records)
    ecsv, _, vot = write_catalog(path, tmp_path)
    table = Table.read(ecsv, format="ascii.ecsv")
    assert list(table["image_set"]) == ["20220331t212107_os2", "b.fits"]
    assert list(table["swath"].filled("")) == ["sw2of3", ""]
    assert list(Table.read(vot, format="votable")["image_set"]) == list(table["image_set"])
