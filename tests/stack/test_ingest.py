"""aurora-ingest: bucket notifications (the S3 / MinIO JSON) into observation.stored events."""

import json
from pathlib import Path

import pytest
import requests

from helpers import EventSink, serve_function
from marsaurora.layout import BucketLayout
from marsaurora.watcher.notifications import events_from_notification

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = BucketLayout(bucket="aurora")
NAME = "emm_emu_l2b_20220301t000000_0100_osr_sw1of1_r_v01-04.fits.gz"


def _record(key: str, bucket: str = "aurora", kind: str = "s3:ObjectCreated:Put") -> dict:
    return {"eventName": kind, "s3": {"bucket": {"name": bucket},
                                      "object": {"key": key, "size": 1234, "eTag": '"abc"'}}}


def test_only_new_l2b_objects_under_the_input_prefix_become_events():
    payload = {"Records": [
        _record(f"observations/2022/03/{NAME}"),
        _record(f"observations/with+space/{NAME}"),
        _record(f"elsewhere/{NAME}"),
        _record("observations/notes.txt"),
        _record(f"observations/{NAME}", bucket="other"),
        _record(f"observations/{NAME}", kind="s3:ObjectRemoved:Delete"),
        _record(f"observations/../{NAME}"),
        {"eventName": "s3:ObjectCreated:Put"},
    ]}
    events, skipped = events_from_notification(payload, LAYOUT)
    assert skipped == 6
    assert [e.get_data()["key"] for e in events] == [f"observations/2022/03/{NAME}",
                                                     f"observations/with space/{NAME}"]
    first = events[0]
    assert first["type"] == "marsaurora.observation.stored" and first["subject"] == NAME
    assert first.get_data() == {"bucket": "aurora", "key": f"observations/2022/03/{NAME}",
                                "etag": "abc", "size": 1234}


@pytest.mark.parametrize("payload", [None, [], {"Records": "x"}, {"Records": [{}] * 1001}])
def test_what_is_not_a_notification_is_refused(payload):
    with pytest.raises(ValueError, match="not an S3 event notification"):
        events_from_notification(payload, LAYOUT)


def test_the_function_posts_to_its_sink_over_http():
    sink = EventSink()
    with serve_function(ROOT / "functions" / "ingest", {"K_SINK": sink.url}) as base:
        url = base + "/"
        answer = requests.post(url, data=json.dumps({"Records": [
            _record(f"observations/{NAME}"), _record("observations/x.txt")]}),
            headers={"content-type": "application/json"}, timeout=10)
        assert answer.status_code == 202 and answer.text == "1 announced, 1 skipped"
        assert sink.subjects == [NAME]
        bad = requests.post(url, data="not json", timeout=10)
        assert bad.status_code == 400


@pytest.mark.parametrize("size", ["abc", [1], float("inf"), 1e400, -5, True, {"n": 1}])
def test_a_record_with_a_bad_size_is_skipped_and_the_good_ones_go_on(size):
    bad = _record(f"observations/bad/{NAME}")
    bad["s3"]["object"]["size"] = size
    events, skipped = events_from_notification(
        {"Records": [bad, _record(f"observations/{NAME}")]}, LAYOUT)
    assert skipped == 1 and [e.get_data()["key"] for e in events] == [f"observations/{NAME}"]


def test_the_same_object_named_a_thousand_times_is_announced_once():
    events, skipped = events_from_notification(
        {"Records": [_record(f"observations/{NAME}")] * 1000}, LAYOUT)
    assert len(events) == 1 and skipped == 999
