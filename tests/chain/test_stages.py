"""Each stage on real events against a real S3 server, without HTTP in between."""

import base64
import json
import uuid
from dataclasses import replace

import pytest
from cloudevents.http import CloudEvent

from marsaurora.chain import StageContext, run_stage
from marsaurora.chain.seal import sealed
from marsaurora.config import Settings
from marsaurora.events import (CANDIDATE_FOUND, DETECTIONS_READY, HEATMAP_READY, HOPS,
                               OBSERVATION_CATALOGED, OBSERVATION_FAILED, OBSERVATION_STORED,
                               new_event)
from marsaurora.pipeline import PipelineOptions, process_file
from marsaurora.preprocess import decode_png

from helpers import without_timings


@pytest.fixture()
def context(s3_server, monkeypatch) -> StageContext:
    return _context(s3_server, monkeypatch)


def _context(s3_server, monkeypatch, **settings) -> StageContext:
    """Every stage's context on a bucket of its own, with ``settings`` beside the S3 ones."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    stage_context = StageContext.from_settings(
        Settings(s3_endpoint=s3_server, s3_bucket=f"b-{uuid.uuid4().hex[:12]}", **settings),
        "detect")
    stage_context.storage.ensure_bucket()
    return stage_context


def _upload(context: StageContext, path, name=None) -> CloudEvent:
    name = name or path.name
    ref = context.storage.put(context.layout.input_key(name), path.read_bytes(), "application/fits")
    return new_event(OBSERVATION_STORED, "ingest", name, {**ref.to_json(), "size": 1})


def _keyed(event: CloudEvent, data: dict, context: StageContext) -> CloudEvent:
    """``event`` with other data, sealed as a stage holding the key would: what a stage's own
    bug could send, past the seal, to reach the checks behind it."""
    return sealed(CloudEvent(event.get_attributes(), data), context.seal_key)


def _chain(context: StageContext, event: CloudEvent) -> list:
    """Deliver each reply to the stage whose Trigger accepts its type, as the broker does."""
    replies = []
    while True:
        stage = next(h.stage for h in HOPS if event["type"] in h.consumes)
        reply = run_stage(stage, event, context)
        replies.append(reply)
        if reply.event is None or reply.status != 200:
            return replies
        event = reply.event


def test_chain_writes_the_same_record_as_the_embedded_pipeline(context, aurora_file):
    replies = _chain(context, _upload(context, aurora_file))
    assert [r.status for r in replies] == [200, 200, 200, 200, 204]
    assert [r.event["type"] for r in replies[:4]] == [
        HEATMAP_READY, CANDIDATE_FOUND, DETECTIONS_READY, OBSERVATION_CATALOGED]
    assert {r.event["subject"] for r in replies[:4]} == {aurora_file.name}
    stored, _ = context.storage.get(context.layout.record_key(f"observations/{aurora_file.name}"))
    record = json.loads(stored)
    expected = process_file(aurora_file, PipelineOptions.from_settings(Settings())).to_json()
    assert without_timings(record) == without_timings(expected)
    assert record["status"] == "aurora" and record["detections"]
    assert set(record["timings_ms"]) == {"read", "preprocess", "classify", "detect", "catalog"}
    data = replies[1].event.get_data()
    assert context.storage.exists(data["heatmap"]["key"]) and data["heatmap"]["etag"]
    assert "image" not in json.dumps(data)
    overlay = replies[3].event.get_data()["overlay"]
    assert overlay["key"] == context.layout.overlay_key(f"observations/{aurora_file.name}",
                                                       data["digest"])
    assert context.storage.get(overlay["key"])[0].startswith(b"\x89PNG")


def test_redelivery_overwrites_instead_of_duplicating(context, aurora_file):
    event = _upload(context, aurora_file)
    _chain(context, event)
    before = context.storage.keys("")
    _chain(context, event)
    assert context.storage.keys("") == before


def test_replaying_every_event_in_reverse_order_changes_nothing(context, aurora_file):
    """Duplicates and out-of-order deliveries: each stage's outputs depend only on its input."""
    first = _upload(context, aurora_file)
    replies = _chain(context, first)
    events = [first] + [r.event for r in replies if r.event is not None]
    before = {key: context.storage.get(key)[0] for key in context.storage.keys("")
              if not key.startswith("records/")}
    record_key = context.layout.record_key(f"observations/{aurora_file.name}")
    record = json.loads(context.storage.get(record_key)[0])
    for event in reversed(events):
        stage = next(h.stage for h in HOPS if event["type"] in h.consumes)
        assert run_stage(stage, event, context).status in (200, 204)
    after = {key: context.storage.get(key)[0] for key in context.storage.keys("")
             if not key.startswith("records/")}
    assert after.keys() == before.keys()
    assert {k for k in after if after[k] != before[k]} == set()
    assert without_timings(json.loads(context.storage.get(record_key)[0])) == \
        without_timings(record)


def test_corrupt_file_answers_400_and_leaves_its_error_record(context, tmp_path):
    bad = tmp_path / "emm_emu_l2b_20220101t000000_0001_os2_sw1of1_f_v01-04.fits.gz"
    bad.write_bytes(b"\x1f\x8b" + b"\x00" * 64)
    reply = run_stage("preprocess", _upload(context, bad), context)
    assert reply.status == 400 and reply.event["type"] == OBSERVATION_FAILED
    failure = reply.event.get_data()
    assert failure["error"]["code"] in {"not_fits", "corrupt", "truncated"}
    record = json.loads(context.storage.get(failure["record"]["key"])[0])
    embedded = process_file(bad, PipelineOptions()).to_json()
    assert record == {**embedded, "timings_ms": record["timings_ms"]}
    assert len(json.dumps(failure)) < 1024


def test_missing_object_is_a_not_found_record(context):
    ref = {"bucket": context.storage.bucket, "key": "observations/gone.fits", "etag": ""}
    reply = run_stage("preprocess", new_event(OBSERVATION_STORED, "ingest", "gone.fits", ref),
                      context)
    assert reply.status == 400
    assert reply.event.get_data()["error"]["code"] == "not_found"


@pytest.mark.parametrize("change, reason", [
    (lambda d: {**d, "key": "observations/../x.fits"}, "'..'"),
    (lambda d: {**d, "key": "private/x.fits"}, "outside the input prefix"),
    (lambda d: {**d, "bucket": "someone-else"}, "AURORA_S3_BUCKET"),
    (lambda d: ["not", "an", "object"], "JSON object"),
    (lambda d: {k: v for k, v in d.items() if k != "key"}, "'key'"),
])
def test_bad_events_answer_400_with_a_reason(context, aurora_file, change, reason):
    event = _upload(context, aurora_file)
    bad = CloudEvent(event.get_attributes(), change(event.get_data()))
    reply = run_stage("preprocess", bad, context)
    assert reply.status == 400
    assert reply.event.get_data()["error"]["code"] == "bad_event"
    assert reason in reply.event.get_data()["error"]["message"]


def test_wrong_type_is_refused_by_each_stage(context, aurora_file):
    event = _upload(context, aurora_file)
    for stage in ("classify", "detect", "catalog", "record"):
        reply = run_stage(stage, event, context)
        assert reply.status == 400 and "not handled here" in reply.message


def test_forged_derived_keys_are_refused(context, aurora_file):
    ready = run_stage("preprocess", _upload(context, aurora_file), context).event
    data = ready.get_data()
    data["scan"] = {**data["scan"], "key": "observations/" + aurora_file.name}
    reply = run_stage("classify", _keyed(ready, data, context), context)
    assert reply.status == 400 and "not the one derived" in reply.message


def test_unreachable_storage_asks_for_a_retry(aurora_file, monkeypatch):
    from helpers import free_port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    dead = StageContext.from_settings(Settings(s3_endpoint=f"http://127.0.0.1:{free_port()}"))
    event = new_event(OBSERVATION_STORED, "ingest", aurora_file.name,
                      {"bucket": "aurora", "key": f"observations/{aurora_file.name}"})
    reply = run_stage("preprocess", event, dead)
    assert reply.status == 503 and "retry" in reply.message
    assert "Traceback" not in reply.message


def test_dead_letter_keeps_the_event_and_reason_without_overwriting_a_record(context, tmp_path):
    bad = tmp_path / "emm_emu_l2b_20220101t000000_0002_os2_sw1of1_f_v01-04.fits"
    bad.write_bytes(b"SIMPLE  = T" + b" " * 100)
    stored = _upload(context, bad)
    reply = run_stage("preprocess", stored, context)
    record_key = context.layout.record_key(f"observations/{bad.name}")
    record_before = context.storage.get(record_key)[0]
    body = json.dumps(reply.event.get_data()).encode()
    letter = CloudEvent({**stored.get_attributes(), "knativeerrorcode": "400",
                         "knativeerrordest": "http://aurora-preprocess",
                         "knativeerrordata": base64.b64encode(body).decode()},
                        stored.get_data())
    assert run_stage("deadletter", letter, context).status == 204
    keys = context.storage.keys(f"dead-letter/{bad.name}/")
    assert len(keys) == 1
    kept = json.loads(context.storage.get(keys.pop())[0])
    assert kept["delivery"]["code"] == "400"
    assert kept["delivery"]["reason"]["error"]["code"] == reply.event.get_data()["error"]["code"]
    assert kept["data"]["key"] == f"observations/{bad.name}"
    assert context.storage.get(record_key)[0] == record_before


def _undelivered(context: StageContext, event: CloudEvent, destination: str,
                 reason: bytes) -> dict:
    """Dead-letter ``event`` as Knative does after a 503 from ``destination``; the record."""
    letter = CloudEvent({**event.get_attributes(), "knativeerrorcode": "503",
                         "knativeerrordest": destination,
                         "knativeerrordata": base64.b64encode(reason).decode()},
                        event.get_data())
    assert run_stage("deadletter", letter, context).status == 204
    return json.loads(context.storage.get(
        context.layout.record_key(f"observations/{event['subject']}"))[0])


def test_dead_letter_writes_an_undeliverable_record_when_no_stage_answered(context, aurora_file):
    record = _undelivered(context, _upload(context, aurora_file), "http://aurora-preprocess",
                          b"storage unavailable")
    assert record["status"] == "error" and record["error"]["code"] == "undeliverable"
    message = record["error"]["message"]
    assert "503" in message and "storage unavailable" in message


def _found_event(context: StageContext, path) -> CloudEvent:
    replies = [run_stage("preprocess", _upload(context, path), context)]
    replies.append(run_stage("classify", replies[0].event, context))
    assert replies[1].event["type"] == CANDIDATE_FOUND
    return replies[1].event


@pytest.mark.parametrize("screen", ["physical", "paper"])
def test_classify_reads_the_heatmap_png_only_for_a_screen_that_looks_at_pixels(
        context, aurora_file, s3_server, screen):
    settings = Settings(s3_endpoint=s3_server, s3_bucket=context.storage.bucket, screen=screen)
    stage_context = StageContext.from_settings(settings)
    ready = run_stage("preprocess", _upload(stage_context, aurora_file), stage_context).event
    expected = process_file(aurora_file, PipelineOptions.from_settings(settings)).to_json()
    classified = run_stage("classify", ready, stage_context).event.get_data()["record"]
    screened = ("screen", "screen_stats", "candidates")
    assert {k: classified[k] for k in screened} == {k: expected[k] for k in screened}
    assert classified["candidates"] and classified["screen"] == screen
    heatmap_key = ready.get_data()["heatmap"]["key"]
    stage_context.storage.put(heatmap_key, b"not a png", "image/png")
    reply = run_stage("classify", ready, stage_context)
    if screen == "physical":
        assert reply.status == 200 and reply.event.get_data()["record"] == classified | {
            "timings_ms": reply.event.get_data()["record"]["timings_ms"]}
    else:
        assert reply.status == 400 and heatmap_key in reply.message


def test_without_a_detector_the_screen_decides_as_in_process(context, aurora_file, s3_server):
    settings = Settings(s3_endpoint=s3_server, s3_bucket=context.storage.bucket, detector="off")
    plain = StageContext.from_settings(settings, "detect")
    assert plain.detector is None and plain.readiness()[0]
    replies = _chain(plain, _found_event(plain, aurora_file))
    assert replies[0].event.get_data()["detections"] is None
    record = json.loads(plain.storage.get(
        plain.layout.record_key(f"observations/{aurora_file.name}"))[0])
    assert without_timings(record) == without_timings(
        process_file(aurora_file, PipelineOptions.from_settings(settings)).to_json())
    assert record["status"] == "aurora" and record["detections"]
    assert {d["decided_by"] for d in record["detections"]} == {"screen"}


@pytest.mark.parametrize("detections, reason", [
    ("boxes", "list of at most"),
    ([{"label": "aurora", "confidence": 0.9}], "box_px"),
    ([{"label": "aurora", "confidence": 0.9, "box_px": [10, 10, 5, 20]}], "x0 <= x1"),
    ([{"label": "aurora", "confidence": 0.9, "box_px": [0, 0, "nan", 1]}], "x0 <= x1"),
    ([{"label": "aurora", "confidence": 0.9, "box_px": [0, 0, 1, 1]}] * 301, "at most 300"),
])
def test_catalog_refuses_malformed_detections(context, aurora_file, detections, reason):
    ready = run_stage("detect", _found_event(context, aurora_file), context).event
    bad = _keyed(ready, {**ready.get_data(), "detections": detections}, context)
    reply = run_stage("catalog", bad, context)
    assert reply.status == 400 and reason in reply.message


def test_a_detector_that_cannot_load_asks_for_a_retry_and_is_not_ready(
        context, aurora_file, s3_server, tmp_path):
    settings = Settings(s3_endpoint=s3_server, s3_bucket=context.storage.bucket,
                        model_path=str(tmp_path / "missing.onnx"))
    broken = StageContext.from_settings(settings, "detect")
    reply = run_stage("detect", _found_event(broken, aurora_file), broken)
    assert reply.status == 503 and "detector not ready" in reply.message
    ready, reason = broken.readiness()
    assert not ready and "missing.onnx" in reason


def test_dead_letter_of_a_candidate_marks_the_detect_stage(context, aurora_file):
    record = _undelivered(context, _found_event(context, aurora_file), "http://aurora-detect",
                          b"detector not ready")
    assert record["status"] == "error" and record["stage"] == "detect"
    assert record["error"]["code"] == "undeliverable"


def test_a_dead_letter_whose_data_is_not_json_is_kept_not_lost(context):
    letter = CloudEvent({"type": OBSERVATION_STORED, "source": "/somewhere", "subject": "x.fits",
                         "datacontenttype": "application/octet-stream",
                         "knativeerrorcode": "400"}, b"\x00\xffnot json")
    assert run_stage("deadletter", letter, context).status == 204
    (key,) = context.storage.keys("dead-letter/_unattributed/")
    kept = json.loads(context.storage.get(key)[0])
    assert base64.b64decode(kept["data"]["base64"]) == b"\x00\xffnot json"


def test_a_forged_finite_but_huge_box_is_catalogued_not_a_crash(context, aurora_file):
    ready = run_stage("detect", _found_event(context, aurora_file), context).event
    huge = [{"label": "aurora", "confidence": 0.9, "box_px": [0.0, 0.0, 1e300, 1e300]}]
    forged = _keyed(ready, {**ready.get_data(), "detections": huge}, context)
    reply = run_stage("catalog", forged, context)
    assert reply.status == 200
    assert reply.event.get_data()["record"]["status"] in ("aurora", "no_aurora")


def test_a_late_record_of_an_older_version_does_not_replace_the_newer_one(context, aurora_file,
                                                                         tmp_path):
    first = _chain(context, _upload(context, aurora_file))
    final_of_first = first[-2].event
    assert final_of_first["type"] in (OBSERVATION_CATALOGED, "marsaurora.candidate.none")
    newer = tmp_path / aurora_file.name
    newer.write_bytes(b"SIMPLE  = T" + b" " * 100)
    _chain(context, _upload(context, newer))
    key = context.layout.record_key(f"observations/{aurora_file.name}")
    newest = context.storage.get(key)[0]
    assert json.loads(newest)["status"] == "error"
    assert run_stage("record", final_of_first, context).status == 204
    assert context.storage.get(key)[0] == newest, "the older version's record replaced it"


def test_a_record_forged_by_another_broker_client_is_refused_and_not_stored(context, aurora_file):
    replies = _chain(context, _upload(context, aurora_file))
    final = replies[-2].event
    key = context.layout.record_key(f"observations/{aurora_file.name}")
    genuine = context.storage.get(key)[0]
    forged_data = {**final.get_data()}
    forged_data["record"] = {**forged_data["record"], "status": "no_aurora", "detections": []}
    for forged in (CloudEvent(final.get_attributes(), forged_data),
                   CloudEvent(final.get_attributes(), {k: v for k, v in forged_data.items()
                                                       if k != "seal"})):
        reply = run_stage("record", forged, context)
        assert reply.status == 400 and "seal" in reply.message
    assert context.storage.get(key)[0] == genuine


def test_a_bug_in_a_science_step_answers_500_so_the_broker_retries(context, aurora_file,
                                                                    monkeypatch):
    found = _found_event(context, aurora_file)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug, not the file's fault")

    monkeypatch.setattr("marsaurora.pipeline.fuse", broken)
    ready = run_stage("detect", found, context).event
    reply = run_stage("catalog", ready, context)
    assert reply.status == 500 and "internal error" in reply.message
    assert not context.storage.exists(
        context.layout.record_key(f"observations/{aurora_file.name}"))


def test_failure_replies_stay_under_knatives_error_data_limit_even_in_non_ascii(context,
                                                                               tmp_path):
    from cloudevents.conversion import to_binary

    from marsaurora.chain.stages import MAX_FAILURE_BODY_BYTES, refuse_event

    reason = "l'émission ne correspond à aucun déclencheur — " * 80
    stored = _upload(context, _bad_file(tmp_path))
    replies = [refuse_event("classify", stored, reason),
               run_stage("preprocess", stored, context)]
    for reply in replies:
        assert reply.status == 400
        _, body = to_binary(reply.event)
        assert len(body) <= MAX_FAILURE_BODY_BYTES
        assert len(base64.b64encode(body)) <= 1024
    assert replies[0].event.get_data()["error"]["message"].startswith("l'émission")


def _bad_file(folder):
    path = folder / ("emm_emu_l2b_20220101t000000_0002_os2_sw1of1_f_v01-04_" + "é" * 60 + ".fits")
    path.write_bytes(b"SIMPLE  = T" + b" " * 100)
    return path


def test_a_redelivered_event_yields_replies_with_the_same_ids(context, aurora_file):
    stored = _upload(context, aurora_file)
    first = run_stage("preprocess", stored, context).event
    again = run_stage("preprocess", stored, context).event
    assert first["id"] == again["id"]
    other = run_stage("preprocess", _upload(context, aurora_file, name="other-" + aurora_file.name),
                      context).event
    assert other["id"] != first["id"]


def test_a_subject_with_non_ascii_letters_travels_percent_encoded():
    from marsaurora.events import binary, from_binary

    event = new_event(OBSERVATION_STORED, "ingest", "émission «boréale» 100%.fits",
                      {"bucket": "b", "key": "k", "etag": "", "size": 1})
    headers, body = binary(event)
    assert all(value.isascii() for value in headers.values())
    assert headers["ce-subject"] == "%C3%A9mission%20%C2%ABbor%C3%A9ale%C2%BB%20100%25.fits"
    assert from_binary(headers, body)["subject"] == event["subject"]


def test_catalog_takes_the_screens_features_from_classify_instead_of_measuring_again(
        context, aurora_file, monkeypatch):
    ready = run_stage("preprocess", _upload(context, aurora_file), context).event
    found = run_stage("classify", ready, context).event
    carried = found.get_data()["features"]
    assert carried["key"] == context.layout.features_key(f"observations/{aurora_file.name}",
                                                        ready.get_data()["digest"])
    assert len(context.storage.get(carried["key"])[0]) < 20_000
    detected = run_stage("detect", found, context).event

    def measured_again(*args, **kwargs):
        raise AssertionError("catalog measured the excess map again")

    monkeypatch.setattr("marsaurora.pipeline.excess_map", measured_again)
    cataloged = run_stage("catalog", detected, context)
    assert cataloged.status == 200
    expected = process_file(aurora_file, PipelineOptions.from_settings(Settings())).to_json()
    assert without_timings(cataloged.event.get_data()["record"]) == without_timings(expected)

    context.storage.put(carried["key"], b"not an npz", "application/octet-stream")
    refused = run_stage("catalog", detected, context)
    assert refused.status == 400 and carried["key"] in refused.message
    data = detected.get_data()
    data["features"] = {**carried, "key": context.layout.scan_key(
        f"observations/{aurora_file.name}", data["digest"])}
    forged = run_stage("catalog", _keyed(detected, data, context), context)
    assert forged.status == 400 and "not the one derived" in forged.message


def test_a_truncated_scan_artifact_is_a_bad_event_not_a_crash(context, aurora_file):
    ready = run_stage("preprocess", _upload(context, aurora_file), context).event
    key = ready.get_data()["scan"]["key"]
    whole, _ = context.storage.get(key)
    context.storage.put(key, whole[: len(whole) // 2], "application/octet-stream")
    reply = run_stage("classify", ready, context)
    assert reply.status == 400 and key in reply.message and "unreadable" in reply.message


def test_where_a_box_can_decide_classify_carries_the_excess_view_to_detect(
        s3_server, aurora_file, monkeypatch):
    """With every candidate under the screen-only bars, classify draws the excess view and
    stores it under the key derived from the input; detect reads it from there (and refuses
    any other key), and the record is the embedded pipeline's. Switched off, none is drawn."""
    undecided = {"screen_only_significance": 1e6, "clean_night_screen_only_significance": 1e6}
    context = _context(s3_server, monkeypatch, **undecided)
    ready = run_stage("preprocess", _upload(context, aurora_file), context).event
    found = run_stage("classify", ready, context).event
    view = found.get_data()["excess_view"]
    assert view["key"] == context.layout.excess_view_key(f"observations/{aurora_file.name}",
                                                         ready.get_data()["digest"])
    assert decode_png(context.storage.get(view["key"])[0]).shape == (480, 640, 3)
    replies = _chain(context, found)
    assert [r.status for r in replies] == [200, 200, 204]
    stored, _ = context.storage.get(context.layout.record_key(f"observations/{aurora_file.name}"))
    expected = process_file(aurora_file, PipelineOptions.from_settings(Settings(**undecided)))
    assert without_timings(json.loads(stored)) == without_timings(expected.to_json())
    assert json.loads(stored)["detections"]
    unseen = process_file(aurora_file, PipelineOptions.from_settings(
        Settings(detect_excess_view="off", **undecided)))
    assert without_timings(unseen.to_json()) != without_timings(expected.to_json()), \
        "the excess view adds no box on this scan: the test cannot tell whether detect read it"

    data = found.get_data()
    data["excess_view"] = {**view, "key": data["heatmap"]["key"]}
    forged = run_stage("detect", _keyed(found, data, context), context)
    assert forged.status == 400 and "not the one derived" in forged.message

    off = replace(context, options=PipelineOptions.from_settings(
        Settings(detect_excess_view="off", **undecided)))
    assert "excess_view" not in run_stage("classify", ready, off).event.get_data()
