"""The VOTable catalogue: valid with no warnings, EPN-TAP v2's mandatory columns in order, with
units, UCDs and nulls where a value is unknown."""

import io
import warnings
from datetime import UTC, datetime

import numpy as np
import pytest
from astropy.io.votable import parse, validate
from astropy.time import Time

from marsaurora.catalog import write_catalog

from helpers import write_jsonl

EPN_TAP_2_MANDATORY = (
    "granule_uid granule_gid obs_id dataproduct_type measurement_type processing_level "
    "target_name target_class time_min time_max time_sampling_step_min time_sampling_step_max "
    "time_exp_min time_exp_max spectral_range_min spectral_range_max spectral_sampling_step_min "
    "spectral_sampling_step_max spectral_resolution_min spectral_resolution_max c1min c1max "
    "c2min c2max c3min c3max s_region c1_resol_min c1_resol_max c2_resol_min c2_resol_max "
    "c3_resol_min c3_resol_max spatial_frame_type incidence_min incidence_max emergence_min "
    "emergence_max phase_min phase_max instrument_host_name instrument_name service_title "
    "creation_date modification_date release_date").split()
"""The mandatory EPNCore parameters, in order, from the EPN-TAP 2.0 Recommendation's table
(ivoa-std/EPNTAP, EPNTAP.tex)."""
NAME = "emm_emu_l2b_20220331t212107_0191_os2_sw1of3_r_v01-04.fits.gz"


def detection(**change) -> dict:
    base = {"decided_by": "both", "confidence": 0.8, "significance": 40.0, "n_boxes": 2,
            "lat_deg": -40.0, "lon_deg": 2.0, "lat_min_deg": -45.0, "lat_max_deg": -35.0,
            "lon_min_deg": 355.0, "lon_max_deg": 8.0, "sza_deg": 120.0, "local_time_h": 22.5,
            "emission_deg": 30.0, "area_km2": 5e4, "peak_r": 12.0, "mean_r": 6.0,
            "background_r": 0.3, "n_pixels": 40, "peak_utc": "2022-03-31T21:30:00",
            "ls_deg": 161.2, "sun_distance_au": 1.45, "sc_alt_km": 35000.0,
            "box_px": [100.0, 120.0, 180.0, 150.0]}
    return {**base, **change}


@pytest.fixture()
def votable(tmp_path):
    records = [{"observation": NAME, "orbit": 191, "start_utc": "2022-03-31T21:21:07",
                "product_version": "v01-04", "status": "aurora",
                "detections": [detection(), detection(confidence=None, decided_by="screen",
                                                      n_boxes=0, peak_utc=None)]}]
    path = write_jsonl(tmp_path / "observations.jsonl", records)
    return write_catalog(path, tmp_path)[2]


def test_it_validates_with_no_warnings(votable):
    report = io.StringIO()
    assert validate(str(votable), output=report), report.getvalue()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse(str(votable), verify="exception")


def test_the_mandatory_epn_columns_come_first_in_order_with_units_and_ucds(votable):
    fields = parse(str(votable)).get_first_table().fields
    assert [f.name for f in fields[:len(EPN_TAP_2_MANDATORY)]] == EPN_TAP_2_MANDATORY
    by_name = {f.name: f for f in fields}
    assert str(by_name["time_min"].unit) == "d" and by_name["c1min"].ucd == \
        "pos.bodyrc.lon;stat.min"
    assert by_name["creation_date"].xtype == "timestamp"
    assert str(by_name["peak_r"].unit) == "R"


def test_values_and_nulls(votable):
    table = parse(str(votable)).get_first_table().to_table()
    first, second = table
    assert first["granule_uid"] == NAME.removesuffix(".fits.gz") + "#0"
    assert (first["c1min"], first["c1max"]) == (355.0, 8.0), "a range across 0 keeps its ends"
    assert first["target_class"] == "planet" and first["spatial_frame_type"] == "body"
    np.testing.assert_allclose(first["time_min"], Time("2022-03-31T21:30:00", scale="utc").jd,
                               atol=1e-6)
    np.testing.assert_allclose(second["time_min"], Time("2022-03-31T21:21:07", scale="utc").jd,
                               atol=1e-6)
    assert np.ma.is_masked(second["confidence"]) and np.ma.is_masked(first["c3min"])
    assert np.ma.is_masked(second["n_boxes"]) is False and second["n_boxes"] == 0
    created = datetime.fromisoformat(str(first["creation_date"])).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - created).total_seconds()) < 600
    assert 2.29e15 < first["spectral_range_min"] < first["spectral_range_max"] < 2.31e15
