"""Any bytes in, a result or a readable refusal out: never an uncaught exception."""

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marsaurora.emus import read_l2b
from marsaurora.errors import ERROR_CODES, ObservationError

PREFIXES = [b"", b"SIMPLE  =                    T", b"\x1f\x8b"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=6000),
       compress=st.booleans())
def test_arbitrary_bytes_are_refused_cleanly(tmp_path, prefix, body, compress):
    payload = prefix + body
    path = tmp_path / "fuzz.fits.gz"
    path.write_bytes(gzip.compress(payload) if compress else payload)
    try:
        read_l2b(path)
    except ObservationError as error:
        assert error.code in ERROR_CODES and "fuzz.fits.gz" in error.message


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(min_value=0.0, max_value=0.999), flip=st.integers(min_value=0))
def test_damaged_real_files_are_refused_cleanly(aurora_file, tmp_path, cut, flip):
    raw = bytearray(gzip.decompress(aurora_file.read_bytes()))
    raw = raw[: max(1, int(len(raw) * cut))] if cut > 0.5 else raw
    raw[flip % len(raw)] ^= 0xFF
    path = tmp_path / "damaged.fits"
    path.write_bytes(bytes(raw))
    try:
        read_l2b(path)
    except ObservationError as error:
        assert error.code in ERROR_CODES
