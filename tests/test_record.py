"""The typed record: its JSON form, its published schema and the README's table agree."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

from marsaurora.pipeline import PipelineOptions, process_file
from marsaurora.record import ObservationRecord, RecordInvalid, json_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "docs" / "observation-record.schema.json"


def test_the_published_schema_is_the_records_own():
    assert json.loads(SCHEMA.read_text()) == json_schema()


def test_the_readme_table_lists_exactly_the_records_fields():
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Output contract"):text.index("Error codes:")]
    listed = {name for cell in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \|", table, re.M)
              for name in re.findall(r"`(\w+)`", cell)}
    assert listed == set(json_schema()["properties"])


def test_real_records_validate_and_round_trip(aurora_file, tmp_path):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not fits")
    for record in (process_file(aurora_file, PipelineOptions()),
                   process_file(bad, PipelineOptions())):
        plain = record.to_json()
        jsonschema.validate(plain, json_schema())
        assert ObservationRecord.from_json(json.loads(json.dumps(plain))) == record


@pytest.mark.parametrize("change, words", [
    ({"status": "maybe"}, "status"), ({"stage": "dream"}, "stage"),
    ({"error": {"code": "oops", "message": "x"}}, "unknown error code"),
    ({"detections": {}}, "'detections' must be list"), ({"orbit": "12"}, "'orbit' must be int"),
    ({"surprise": 1}, "unknown record fields"), ({"timings_ms": None}, "may not be null"),
])
def test_a_record_that_does_not_fit_is_refused_naming_the_field(change, words):
    with pytest.raises(RecordInvalid, match=words):
        ObservationRecord.from_json({**ObservationRecord("x.fits").to_json(), **change})


def test_every_error_goes_through_the_one_constructor_with_known_codes():
    record = ObservationRecord.failed("x.fits", "undeliverable", "no stage answered",
                                      stage="detect")
    assert record.to_json()["error"] == {"code": "undeliverable", "message": "no stage answered"}
    with pytest.raises(ValueError, match="unknown error code"):
        ObservationRecord("x.fits").fail("gremlins", "?")
