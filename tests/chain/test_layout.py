"""Bucket keys: derived from the input key and content, and refused when unsafe."""

import pytest

from marsaurora.config import ConfigError, Settings
from marsaurora.layout import BucketLayout, KeyRefused, content_digest

LAYOUT = BucketLayout(bucket="b", input_prefix="observations/", output_prefix="out/")
NAME = "emm_emu_l2b_20220331t212107_0191_os2_sw1of3_r_v01-04.fits.gz"


def test_derived_keys_keep_the_relative_path_and_the_content_digest():
    key = f"observations/2022/03/{NAME}"
    digest = content_digest(b"abc")
    assert LAYOUT.heatmap_key(key, digest) == (
        f"out/heatmaps/2022/03/{NAME.removesuffix('.fits.gz')}-{digest[:16]}.png")
    assert LAYOUT.scan_key(key, digest).startswith("out/scans/2022/03/")
    assert LAYOUT.record_key(key) == f"out/records/2022/03/{NAME}.json"
    assert LAYOUT.heatmap_key(key, content_digest(b"abd")) != LAYOUT.heatmap_key(key, digest)


@pytest.mark.parametrize("key", [
    "elsewhere/x.fits", "observations/../secrets", "observations/a/../../x",
    "observations//x.fits", "observations/./x.fits", "observations/x\x00.fits",
    "observations/x\n.fits", "observations/", "", "observations/" + "a" * 1100,
])
def test_unsafe_or_foreign_keys_are_refused(key):
    with pytest.raises(KeyRefused):
        LAYOUT.relative_input(key)


def test_dead_letters_without_an_observation_get_their_own_folder():
    assert LAYOUT.dead_letter_key(None, "abc-1").startswith("out/dead-letter/_unattributed/")
    odd = LAYOUT.dead_letter_key(f"observations/{NAME}", "../../etc/passwd")
    assert ".." not in odd and odd.startswith(f"out/dead-letter/{NAME}/")


@pytest.mark.parametrize("prefix", ["observations", "/observations/", "a/../b/"])
def test_bad_prefixes_are_configuration_errors(prefix):
    with pytest.raises(ConfigError, match="AURORA_S3_INPUT_PREFIX"):
        Settings.from_env({"AURORA_S3_INPUT_PREFIX": prefix})


def test_string_settings_keep_their_case():
    settings = Settings.from_env({"AURORA_S3_ENDPOINT": "http://MinIO:9000/Path",
                                  "AURORA_S3_INPUT_PREFIX": "Obs/"})
    assert settings.s3_endpoint == "http://MinIO:9000/Path"
    assert settings.s3_input_prefix == "Obs/"
