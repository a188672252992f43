"""The event contract in marsaurora.events, the eventing/ manifests and the docs agree."""

from pathlib import Path

import pytest
import yaml

from marsaurora.events import (DEAD_LETTER_SERVICE, EVENT_TYPES, HOPS, OBSERVATION_FAILED,
                               hop, new_event)
from marsaurora.stack.triggers import ManifestError, load_routes, parse_duration_s

ROOT = Path(__file__).resolve().parents[2]
EVENTING = ROOT / "eventing"


def test_every_hop_has_one_trigger_per_accepted_type_and_nothing_else():
    routes = load_routes(EVENTING, "aurora")
    wanted = {(h.service, t) for h in HOPS for t in h.consumes}
    found = {(r.subscriber, r.filter["type"]) for r in routes}
    assert found == wanted
    assert all(set(r.filter) == {"type"} for r in routes)


def test_every_trigger_retries_with_backoff_then_dead_letters():
    for route in load_routes(EVENTING, "aurora"):
        assert route.delivery.retry >= 3
        assert route.delivery.backoff_policy == "exponential"
        assert route.delivery.dead_letter_sink == DEAD_LETTER_SERVICE


def test_no_stage_emits_what_its_own_trigger_accepts():
    for stage in HOPS:
        assert not set(stage.emits) & set(stage.consumes)
        assert all(t in {row.type for row in EVENT_TYPES} for t in stage.emits + stage.consumes)


def test_failure_events_are_never_routed():
    routed = {t for h in HOPS for t in h.consumes}
    assert OBSERVATION_FAILED not in routed


def test_eventing_readme_table_matches_the_contract():
    text = (EVENTING / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `marsaurora.")]
    documented = {line.split("|")[1].strip().strip("`") for line in rows}
    assert documented == {row.type for row in EVENT_TYPES}
    for row in EVENT_TYPES:
        line = next(r for r in rows if f"`{row.type}`" in r)
        for emitter in row.emitted_by:
            assert emitter in line


def test_events_carry_every_attribute_explicitly():
    event = new_event(hop("preprocess").emits[0], "preprocess", "x.fits.gz", {"a": 1})
    assert event["source"] == "/marsaurora/preprocess"
    assert event["datacontenttype"] == "application/json"
    assert event["subject"] == "x.fits.gz" and event["id"]
    with pytest.raises(ValueError, match="not in the event contract"):
        new_event("com.example.other", "preprocess", "x", {})


def test_manifests_are_knative_v1(tmp_path):
    for path in EVENTING.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            assert document["apiVersion"] == "eventing.knative.dev/v1"
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"},
        "spec": {"broker": "aurora", "filters": [{"exact": {"type": "x"}}],
                 "subscriber": {"uri": "http://x"}}}))
    with pytest.raises(ManifestError, match="does not support filters"):
        load_routes(tmp_path, "aurora")


@pytest.mark.parametrize("text,seconds", [("PT0.5S", 0.5), ("PT1M", 60.0), ("PT1H2M3S", 3723.0),
                                          ("P1D", 86400.0)])
def test_iso_durations(text, seconds):
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "PT", "0.5S", "PT-1S", "P1W"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ManifestError):
        parse_duration_s(text)


def test_a_delivery_key_the_local_broker_does_not_implement_is_refused(tmp_path):
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"},
        "spec": {"broker": "aurora", "filter": {"attributes": {"type": "x"}},
                 "subscriber": {"uri": "http://x"},
                 "delivery": {"retry": 2, "retryAfterMax": "PT10S", "timeout": "PT3S"}}}))
    with pytest.raises(ManifestError, match="retryAfterMax"):
        load_routes(tmp_path, "aurora")
