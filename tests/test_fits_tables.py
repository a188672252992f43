"""The streaming table reader on its own: header values, column layouts, refusals."""

import gzip

import numpy as np
import pytest
from astropy.io import fits

from marsaurora.fits_tables import (MAX_HEADER_BYTES, GzipDamage, Malformed, Unsupported,
                                    _string, inflated, inflated_whole, read_tables)

LIMITS = {"max_bytes": 1 << 30, "max_table_bytes": 1 << 28, "max_hdus": 16}


@pytest.mark.parametrize("raw, text", [
    ("'O I 130.4 triplet'  / name", "O I 130.4 triplet"),
    ("'it''s'", "it's"),
    ("''", ""),
    ("   'padded   '", "padded"),
])
def test_string_values(raw, text):
    assert _string(raw) == text


@pytest.mark.parametrize("raw", ["42", "'unterminated"])
def test_bad_string_values(raw):
    with pytest.raises(Unsupported):
        _string(raw)


def _write(tmp_path, columns, name="DATA", compress=False, **header):
    table = fits.BinTableHDU.from_columns(columns, name=name)
    for key, value in header.items():
        table.header[key] = value
    path = tmp_path / ("t.fits.gz" if compress else "t.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((3, 4), ">f4"), name="SKIP"),
                  table]).writeto(path)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_columns_match_astropy(tmp_path, compress):
    rng = np.random.default_rng(3)
    cube = rng.normal(size=(7, 5, 4)).astype(">f4")
    names = np.array([f"row {i}" for i in range(7)])
    columns = [fits.Column(name="Name", format="12A", array=names),
               fits.Column(name="CUBE", format="20E", dim="(4,5)", array=cube, unit="R"),
               fits.Column(name="FLAG", format="L", array=np.arange(7) % 2 == 0),
               fits.Column(name="N", format="J", array=np.arange(7, dtype=">i4")),
               fits.Column(name="T", format="2D", array=rng.normal(size=(7, 2)))]
    path = _write(tmp_path, columns, compress=compress)
    table = read_tables(path, {"DATA"}, set(), compressed=compress, **LIMITS)["DATA"]
    with fits.open(path) as hdul:
        reference = hdul["DATA"].data
        for name in ("CUBE", "N", "T"):
            np.testing.assert_array_equal(table.column(name), reference[name])
            assert table.column(name).shape == reference[name].shape
        assert [v.decode() for v in table.column("NAME")] == list(reference["Name"])
    assert table.unit("CUBE") == "R" and table.unit("N") == ""
    with pytest.raises(Unsupported, match="type L"):
        table.column("FLAG")


def test_missing_table_and_too_many_hdus(tmp_path):
    path = _write(tmp_path, [fits.Column(name="N", format="J", array=np.arange(3))])
    with pytest.raises(Unsupported, match="OTHER"):
        read_tables(path, {"OTHER"}, set(), compressed=False, **LIMITS)
    assert read_tables(path, {"DATA"}, {"OTHER"}, compressed=False, **LIMITS).keys() == {"DATA"}
    with pytest.raises(Unsupported, match="within 2 HDUs"):
        read_tables(path, {"DATA"}, set(), compressed=False,
                    **{**LIMITS, "max_hdus": 2})


def test_limits_refuse_before_reading(tmp_path):
    path = _write(tmp_path, [fits.Column(name="N", format="1000E",
                                         array=np.zeros((50, 1000), ">f4"))], compress=True)
    with pytest.raises(Malformed, match="claims") as refused:
        read_tables(path, {"DATA"}, set(), compressed=True,
                    **{**LIMITS, "max_table_bytes": 1000})
    assert refused.value.code == "too_large"
    with pytest.raises(Unsupported, match="inflates beyond"):
        read_tables(path, {"DATA"}, set(), compressed=True, **{**LIMITS, "max_bytes": 10000})


def test_damage_is_unsupported_not_a_crash(tmp_path):
    path = _write(tmp_path, [fits.Column(name="N", format="J", array=np.arange(3))],
                  compress=True)
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    with pytest.raises(Unsupported, match="ends early"):
        read_tables(path, {"DATA"}, set(), compressed=True, **LIMITS)
    plain = tmp_path / "plain.fits"
    plain.write_bytes(gzip.decompress(data)[:-3000])
    with pytest.raises(Unsupported, match="ends before"):
        read_tables(plain, {"DATA"}, set(), compressed=False, **LIMITS)


def test_an_endless_header_is_left_to_astropy(tmp_path):
    path = tmp_path / "long.fits"
    card = b"COMMENT " + b" " * 72
    path.write_bytes(b"SIMPLE  =                    T".ljust(80) + card * (MAX_HEADER_BYTES // 80))
    with pytest.raises(Unsupported, match="longer than"):
        read_tables(path, {"DATA"}, set(), compressed=False, **LIMITS)


def _inflate(data: bytes, max_bytes: int = 1 << 30) -> bytes:
    return b"".join(inflated(data, max_bytes))


def test_a_single_gzip_member_is_inflated_in_one_call():
    raw = np.random.default_rng(5).normal(size=50_000).astype(">f4").tobytes()
    whole = inflated_whole(gzip.compress(raw), 1 << 30)
    assert whole is not None and bytes(whole) == raw


@pytest.mark.parametrize("layout", ["two members of equal size", "three members",
                                    "NUL padding after the member", "NUL padding between"])
def test_every_gzip_member_is_inflated_whatever_the_layout(layout):
    """libdeflate alone would stop after the first member; the trailer check sends these
    files to the streaming inflate, which reads them all."""
    rng = np.random.default_rng(6)
    parts = [rng.normal(size=20_000).astype(">f4").tobytes() for _ in range(3)]
    one, two, three = (gzip.compress(part) for part in parts)
    data, expected = {
        "two members of equal size": (one + two, parts[0] + parts[1]),
        "three members": (one + two + three, b"".join(parts)),
        "NUL padding after the member": (one + bytes(512), parts[0]),
        "NUL padding between": (one + bytes(64) + two, parts[0] + parts[1]),
    }[layout]
    assert inflated_whole(data, 1 << 30) is None
    assert _inflate(data) == expected


@pytest.mark.parametrize("damage, code", [("flipped byte", "corrupt"), ("cut short", "truncated"),
                                          ("too large", "too_large")])
def test_gzip_damage_is_worded_by_the_streaming_inflate(damage, code):
    data = bytearray(gzip.compress(np.arange(100_000, dtype=">i4").tobytes()))
    max_bytes = 1 << 30
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0x40
    elif damage == "cut short":
        data = data[:-100]
    else:
        max_bytes = 1000
    assert inflated_whole(bytes(data), max_bytes) is None
    with pytest.raises(GzipDamage) as caught:
        _inflate(bytes(data), max_bytes)
    assert caught.value.code == code
