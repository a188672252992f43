"""Fusion: detector boxes and physical excess decide together, one aurora per connected emission."""

from dataclasses import replace

import numpy as np
import pytest

from marsaurora.catalog import catalog_auroras
from marsaurora.classify import PhysicalScreenParams
from marsaurora.classify.excess import excess_map
from marsaurora.classify.physical import bbox_px
from marsaurora.detect import Detection
from marsaurora.fusion import FusionParams, fuse
from marsaurora.preprocess import render_heatmap

from helpers import flat_night_colour
from scans import SHAPE, night_scan

PARAMS = PhysicalScreenParams()
FUSION = FusionParams()


def sinuous_arc(peak_r: float) -> np.ndarray:
    """A thin (about 2 px) wavy band from integration 15 to 105, with beads along it."""
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    centre = 64 + 12 * np.sin(rows / 9.0)
    beads = 0.7 + 0.3 * np.cos(rows / 4.0)
    along = (rows >= 15) & (rows <= 105)
    return np.where(along, peak_r * beads * np.exp(-0.5 * ((cols - centre) / 0.9) ** 2), 0.0)


def spot(peak_r: float, at: tuple[int, int], sigma_px: float = 2.5) -> np.ndarray:
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    return peak_r * np.exp(-((rows - at[0]) ** 2 + (cols - at[1]) ** 2) / (2 * sigma_px**2))


def run(observation, boxes, *, physical_evidence=True, params=FUSION):
    heatmap = render_heatmap(observation)
    excess = excess_map(observation, PARAMS.excess)
    fusion = fuse(excess, heatmap, boxes, physical_evidence=physical_evidence,
                  candidate=PARAMS.is_candidate, params=params, confident=0.25)
    return fusion, catalog_auroras(observation, heatmap, excess, fusion), heatmap


def box(heatmap, rows, cols, confidence=0.6) -> Detection:
    return Detection("aurora", confidence, tuple(float(v) for v in bbox_px(heatmap, rows, cols)))


def test_one_sinuous_arc_cut_into_four_boxes_is_one_catalogue_row():
    observation = night_scan(0.5, 1, extra_r=sinuous_arc(6.0))
    heatmap = render_heatmap(observation)
    pieces = [box(heatmap, (first, first + 22), (45, 83)) for first in (15, 38, 61, 84)]
    fusion, (detections, flagged), _ = run(observation, pieces)
    assert len(fusion.auroras) == 1 and not flagged
    (row,) = detections
    assert row["n_boxes"] == 4 and row["decided_by"] == "both"
    assert row["lat_max_deg"] - row["lat_min_deg"] >= 40, "the row spans the whole arc"


def test_a_patch_cluster_in_one_box_is_one_row_and_a_strong_spot_outside_it_another():
    blobs = sum(spot(20.0, at, sigma_px=1.5) for at in ((40, 46), (40, 70), (60, 58)))
    observation = night_scan(0.5, 5, extra_r=blobs + spot(20.0, (95, 100), sigma_px=1.5))
    excess = excess_map(observation, PARAMS.excess)
    assert sum(f.significance >= FUSION.screen_only_significance for f in excess.features) == 4
    heatmap = render_heatmap(observation)
    cluster = box(heatmap, (34, 66), (40, 76))
    fusion, (detections, flagged), _ = run(observation, [cluster])
    assert not flagged
    assert sorted(d["decided_by"] for d in detections) == ["both", "screen"]
    (row,) = [d for d in detections if d["decided_by"] == "both"]
    assert row["n_boxes"] == 1 and len(fusion.auroras[0].features) == 3
    alone = run(observation, [])[1][0]
    lon_span = {round(d["lon_max_deg"] - d["lon_min_deg"], 1) for d in alone}
    assert row["lon_max_deg"] - row["lon_min_deg"] > max(lon_span), "the row spans every blob"


def _patch_whose_halo_touches_an_arc() -> tuple[np.ndarray, np.ndarray]:
    """A 40 R patch whose halo reaches a 30 R arc 1,300 km away: the patch and the arc, R."""
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    patch = spot(40.0, (40, 64), sigma_px=4.0) + 10.0 * np.exp(
        -np.hypot(rows - 40, cols - 64) / 18.0)
    curve = 78 + ((cols - 64) / 12.0) ** 2
    arc = np.where((np.abs(rows - curve) <= 1) & (cols >= 20) & (cols < 110), 30.0, 0.0)
    return patch, arc


def test_an_arc_and_a_patch_whose_halo_touches_it_are_one_aurora_and_two_rows():
    """The patch's faint halo reaches the arc, so the excess map holds them as one connected
    feature and fusion as one aurora; the catalogue gives each its own row, with the box that
    lies on it, where one row between them lay on neither."""
    patch, arc = _patch_whose_halo_touches_an_arc()
    observation = night_scan(0.5, 2, extra_r=patch + arc)
    excess = excess_map(observation, PARAMS.excess)
    assert excess.labels[40, 64] == excess.labels[78, 64] > 0, "one connected feature"
    heatmap = render_heatmap(observation)
    boxes = [box(heatmap, (32, 48), (56, 72)), box(heatmap, (82, 87), (20, 109), 0.4)]
    fusion, (detections, flagged), _ = run(observation, boxes)
    assert len(fusion.auroras) == 1 and not flagged
    patch_row, arc_row = detections
    arc_rows, arc_cols = np.nonzero(arc)
    for row, (lat, lon), confidence in (
            (patch_row, (observation.lat_deg[40, 64], observation.lon_deg[40, 64]), 0.6),
            (arc_row, (observation.lat_deg[arc_rows, arc_cols].mean(),
                       observation.lon_deg[arc_rows, arc_cols].mean()), 0.4)):
        assert row["lat_deg"] == pytest.approx(lat, abs=1.0)
        assert row["lon_deg"] == pytest.approx(lon, abs=1.0)
        assert row["n_boxes"] == 1 and row["confidence"] == confidence
        assert row["decided_by"] == "both"
    assert arc_row["lon_max_deg"] - arc_row["lon_min_deg"] >= 40, "the arc's row spans it"
    assert patch_row["lat_max_deg"] < arc_row["lat_min_deg"]


def test_a_row_of_a_split_aurora_without_a_box_of_its_own_is_decided_by_the_screen():
    """Only the patch is boxed: its row is seen by both, the arc's row by the screen alone (it
    holds its own excess, no box), not by a detector that drew nothing on it."""
    patch, arc = _patch_whose_halo_touches_an_arc()
    observation = night_scan(0.5, 2, extra_r=patch + arc)
    heatmap = render_heatmap(observation)
    fusion, (detections, _), _ = run(observation, [box(heatmap, (32, 48), (56, 72))])
    assert len(fusion.auroras) == 1 and fusion.auroras[0].decided_by == "both"
    patch_row, arc_row = detections
    assert (patch_row["decided_by"], patch_row["n_boxes"], patch_row["confidence"]) == (
        "both", 1, 0.6)
    assert (arc_row["decided_by"], arc_row["n_boxes"], arc_row["confidence"]) == (
        "screen", 0, None)


def test_a_strong_excess_is_an_aurora_even_when_the_detector_is_silent():
    observation = night_scan(0.5, 2, extra_r=spot(20.0, (60, 64)))
    fusion, (detections, _), _ = run(observation, [])
    assert [d["decided_by"] for d in detections] == ["screen"]
    assert detections[0]["significance"] >= FusionParams().screen_only_significance
    assert detections[0]["confidence"] is None and detections[0]["n_boxes"] == 0


def test_a_candidate_below_a_raised_screen_only_threshold_needs_the_detector():
    """By default every screen candidate is strong enough alone; a user who raises the
    screen-only threshold makes the detector decide between the two."""
    strict = FusionParams(screen_only_significance=15.0, clean_night_screen_only_significance=15.0)
    observation = night_scan(0.5, 3, extra_r=spot(3.0, (60, 64), sigma_px=1.5))
    excess = excess_map(observation, PARAMS.excess)
    strongest = excess.features[0].significance
    assert PARAMS.min_significance <= strongest < strict.screen_only_significance
    _, (by_default, _), heatmap = run(observation, [])
    assert [d["decided_by"] for d in by_default] == ["screen"]
    _, (without_box, _), _ = run(observation, [], params=strict)
    assert without_box == []
    seen = box(heatmap, excess.features[0].integration_range, excess.features[0].slit_pixel_range)
    _, (with_box, _), _ = run(observation, [seen], params=strict)
    assert [d["decided_by"] for d in with_box] == ["both"]


def test_a_feature_under_the_screen_threshold_is_an_aurora_only_with_a_box():
    observation = night_scan(0.5, 3, extra_r=spot(1.6, (60, 64), sigma_px=1.5))
    excess = excess_map(observation, PARAMS.excess)
    strongest = excess.features[0].significance
    assert FUSION.support_significance <= strongest < FUSION.clean_night_screen_only_significance
    _, (without_box, _), heatmap = run(observation, [])
    assert without_box == []
    seen = box(heatmap, excess.features[0].integration_range, excess.features[0].slit_pixel_range)
    _, (with_box, _), _ = run(observation, [seen])
    assert [d["decided_by"] for d in with_box] == ["both"]


def test_the_clean_night_needs_less_significance_than_the_limb():
    """8-10 sigma is an aurora without a box where the night background is clean (emission
    angle up to 60 deg, far from the terminator), not towards the limb, where background
    misfits reach 7.5 sigma on aurora-free scans."""
    clean = night_scan(0.5, 3, extra_r=spot(2.0, (60, 64), sigma_px=1.5))
    limb = night_scan(0.5, 3, extra_r=spot(2.0, (60, 110), sigma_px=1.5), max_emission_deg=85.0)
    for observation, in_clean_night in ((clean, True), (limb, False)):
        (feature, *_) = excess_map(observation, PARAMS.excess).features
        assert feature.clean_night is in_clean_night
        assert FUSION.clean_night_screen_only_significance <= feature.significance \
            < FUSION.screen_only_significance
        _, (detections, _), _ = run(observation, [])
        assert [d["decided_by"] for d in detections] == (["screen"] if in_clean_night else [])


def test_a_broad_excess_a_fraction_of_its_night_needs_a_box():
    """Many sigma over hundreds of pixels, but under AURORA_BROAD_MIN_CONTRAST of the night
    glow under it: what a misfit of the night's fit looks like in clean scans, so the screen
    alone does not call it; a box does, and so does the screen under a lower contrast bar or
    a larger breadth, or in the terminator band, where auroras lie over the dayglow tail."""
    broad = night_scan(2.0, 0, extra_r=spot(1.0, (60, 50), sigma_px=7.0))
    (feature, *_) = excess_map(broad, PARAMS.excess).features
    assert feature.significance >= FUSION.screen_only_significance
    assert feature.area_px >= FUSION.broad_px and feature.contrast < FUSION.broad_min_contrast
    _, (without_box, _), heatmap = run(broad, [])
    assert without_box == []
    seen = box(heatmap, feature.integration_range, feature.slit_pixel_range)
    assert [d["decided_by"] for d in run(broad, [seen])[1][0]] == ["both"]
    lenient = FusionParams(broad_min_contrast=feature.contrast / 2)
    assert [d["decided_by"] for d in run(broad, [], params=lenient)[1][0]] == ["screen"]
    narrower = FusionParams(broad_px=feature.area_px + 1)
    assert narrower.screen_only(feature) and not FUSION.screen_only(feature)
    assert feature.past_terminator
    assert FUSION.screen_only(replace(feature, past_terminator=False))


def test_the_excess_view_leaves_out_a_broad_faint_excess_that_needs_the_heatmaps_box():
    """The excess view shows the excess without the glow under it, so it cannot tell a broad
    excess that is a fraction of its glow from an aurora: such a feature is drawn as the
    uniform night there, and only a box on the heatmap can make it an aurora. Narrower than
    the breadth floor it is drawn."""
    from marsaurora.pipeline import PipelineOptions, excess_view
    from marsaurora.record import ObservationRecord

    broad = night_scan(2.0, 0, extra_r=spot(1.0, (60, 50), sigma_px=7.0))
    excess = excess_map(broad, PARAMS.excess)
    (feature, *_) = excess.features
    assert FUSION.broad_and_faint(past_terminator=feature.past_terminator,
                                  area_px=feature.area_px, contrast=feature.contrast)
    record = ObservationRecord("scan.fits", candidates=[{
        "significance": feature.significance, "past_terminator": True,
        "area_detector_px": feature.area_px, "contrast": feature.contrast},
        {"significance": 7.0}])
    frame = render_heatmap(broad)
    at_peak = ((frame.integration == feature.peak_pixel[0])
               & (frame.slit_pixel == feature.peak_pixel[1]))
    night_colour = flat_night_colour(frame)
    assert at_peak.any()
    left_out = excess_view(broad, frame, excess, record, PipelineOptions())
    assert (left_out[at_peak] == night_colour).all()
    drawn = excess_view(broad, frame, excess, record,
                        PipelineOptions(fusion=FusionParams(broad_px=feature.area_px + 1)))
    assert (drawn[at_peak].astype(int).sum(axis=1) > night_colour.astype(int).sum()).all()


def test_a_box_with_no_excess_under_it_is_flagged_not_trusted():
    observation = night_scan(0.5, 4, extra_r=spot(20.0, (30, 30)))
    heatmap = render_heatmap(observation)
    phantom = box(heatmap, (85, 100), (90, 110), confidence=0.9)
    fusion, (detections, flagged), _ = run(observation, [phantom])
    assert [d["decided_by"] for d in detections] == ["screen"], "only the real spot"
    assert len(flagged) == 1 and flagged[0]["confidence"] == pytest.approx(0.9)
    quiet = night_scan(0.5, 5)
    _, (nothing, flagged), _ = run(quiet, [box(render_heatmap(quiet), (85, 100), (90, 110))])
    assert nothing == [] and len(flagged) == 1


def test_with_the_paper_screen_the_detector_decides_alone():
    quiet = night_scan(0.5, 5)
    heatmap = render_heatmap(quiet)
    _, (detections, flagged), _ = run(quiet, [box(heatmap, (85, 100), (90, 110))],
                                      physical_evidence=False)
    assert [d["decided_by"] for d in detections] == ["detector"] and flagged == []
    _, (silent, _), _ = run(night_scan(0.5, 2, extra_r=spot(20.0, (60, 64))), [],
                            physical_evidence=False)
    assert silent == [], "the paper's pipeline has no physical evidence to overrule it"


def test_without_a_detector_every_candidate_strong_enough_alone_is_an_aurora():
    """With no detector the screen decides alone, at the screen-only thresholds: a candidate
    the screen sends on for a detector to confirm is no aurora by itself."""
    observation = night_scan(0.5, 3, extra_r=spot(3.0, (60, 64), sigma_px=1.5))
    fusion, (detections, _), _ = run(observation, None)
    assert [d["decided_by"] for d in detections] == ["screen"]
    assert run(night_scan(0.5, 5), None)[1][0] == []
    faint = night_scan(0.5, 3, extra_r=spot(1.6, (60, 64), sigma_px=1.5))
    (feature, *_) = excess_map(faint, PARAMS.excess).features
    assert PARAMS.is_candidate(feature) and not FUSION.screen_only(feature)
    assert run(faint, None)[1][0] == []


def test_a_weak_box_decides_a_feature_the_screen_alone_would_not():
    """A box under the detector's own threshold, over a feature of the support significance,
    is enough; under the weak boxes' threshold it is not."""
    observation = night_scan(0.5, 3, extra_r=spot(1.6, (60, 64), sigma_px=1.5))
    excess = excess_map(observation, PARAMS.excess)
    feature = excess.features[0]
    assert FUSION.support_significance <= feature.significance \
        < FUSION.clean_night_screen_only_significance
    heatmap = render_heatmap(observation)
    rows, cols = feature.integration_range, feature.slit_pixel_range
    _, (weakly, flagged), _ = run(observation, [box(heatmap, rows, cols, confidence=0.1)])
    assert [d["decided_by"] for d in weakly] == ["both"] and flagged == []
    assert weakly[0]["confidence"] == pytest.approx(0.1)
    too_weak = box(heatmap, rows, cols, confidence=FUSION.support_confidence / 2)
    assert run(observation, [too_weak])[1] == ([], [])


def test_a_weak_box_over_nothing_is_dropped_not_flagged():
    quiet = night_scan(0.5, 5)
    heatmap = render_heatmap(quiet)
    _, (nothing, flagged), _ = run(quiet, [box(heatmap, (85, 100), (90, 110), confidence=0.1)])
    assert nothing == [] and flagged == []


def test_a_weak_box_joins_no_further_feature():
    """A box the network hardly believes says little about where an aurora ends: the blobs of
    a cluster under one weak box stay rows of their own (one confident box makes them one)."""
    blobs = sum(spot(20.0, at, sigma_px=1.5) for at in ((40, 46), (40, 70), (60, 58)))
    observation = night_scan(0.5, 5, extra_r=blobs)
    heatmap = render_heatmap(observation)
    _, (confidently, _), _ = run(observation, [box(heatmap, (34, 66), (40, 76))])
    _, (weakly, flagged), _ = run(observation, [box(heatmap, (34, 66), (40, 76), 0.1)])
    assert len(confidently) == 1 and flagged == []
    assert sorted(d["decided_by"] for d in weakly) == ["both", "screen", "screen"]


def test_a_thin_sinuous_arc_beside_a_bright_crescent_is_one_aurora():
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    centre = 92 + 8 * np.sin(cols / 8.0)
    arc = np.where((cols >= 10) & (cols <= 118),
                   5.0 * np.exp(-0.5 * ((rows - centre) / 0.8) ** 2), 0.0)
    observation = night_scan(0.3, 8, terminator_tail_r=400.0, limb_brightened=True,
                             max_emission_deg=80.0, extra_r=arc)
    assert observation.brightness_r[-1].mean() > 20, "the last integrations are a bright crescent"
    assert 100 <= observation.sza_deg[100, 64] and observation.sza_deg[84, 64] <= 112
    fusion, (detections, flagged), _ = run(observation, [])
    assert len(detections) == 1 and not flagged
    (row,) = detections
    assert row["decided_by"] == "screen"
    assert row["lon_max_deg"] - row["lon_min_deg"] >= 40, "the row spans the arc, end to end"
