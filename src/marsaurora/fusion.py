"""One aurora per connected emission, decided by the detector and the physical evidence together.

The detector draws boxes on a picture; the excess map
(:mod:`marsaurora.classify.excess`) says, in rayleigh and sigma, where the
scan is brighter than its background and which pixels belong together.
Fusion joins them:

- **Merge.** Each aurora box is assigned to the feature of the excess map
  that carries most of the excess inside it. Boxes assigned to the same
  feature are one aurora: a sinuous arc the detector cut into four boxes is
  one catalogue row, with the feature's extent. A further feature with most
  of its excess inside that aurora's boxes is a part of it (the blobs of
  one patch cluster the detector boxed as one), not a second aurora; the
  row's extent covers its parts too.
- **Decide** (physical screen). A feature with a box and at least
  ``support_significance`` sigma is an aurora seen by both
  (``decided_by: both``). A feature strong enough that noise cannot explain
  it (``screen_only_significance``, or ``clean_night_screen_only_significance``
  where it peaks in the clean night, away from limb and terminator misfits)
  is an aurora even when the detector drew no box (``decided_by: screen``), unless,
  past the terminator band, it is broad (``broad_px``) and stands less than
  ``broad_min_contrast`` out of the night glow under it: the night glow's own misfit.
  A box with no such feature under it is not trusted: it is kept as a
  flagged box, not as an aurora.
- **Weak boxes.** Over a feature of ``support_significance`` the physical
  evidence already stands above every aurora-free feature but the limb's
  strongest, so a box the detector drew with little confidence
  (``support_confidence`` up to the detector's own threshold) is enough to
  decide it: a faint aurora is faint in the picture too. Such a box decides
  only that: it is neither flagged when it stands over nothing nor joins
  further features to an aurora, since a box the network hardly believes
  says little about where an aurora ends.
- With the paper screen the detector decides alone (``decided_by:
  detector``), as in the paper, with confident boxes only; the excess map
  still merges its boxes and locates them. Without a detector
  (``AURORA_DETECTOR=off``) the screen decides alone: every candidate strong
  enough without a box is an aurora (``decided_by: screen``).

The thresholds were set on validation and OOD calibration scans, never on the test sets
(``docs/screens.md``).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from marsaurora.classify.features import Feature, FeatureMap
from marsaurora.detect import DEFAULT_CONFIDENCE, Detection
from marsaurora.knobs import knob
from marsaurora.preprocess import NO_SOURCE, Heatmap

DECIDERS = ("detector", "screen", "both")


@dataclass(frozen=True)
class FusionParams:
    """How much physical evidence an aurora needs (``AURORA_*`` settings)."""

    support_significance: float = knob(
        6.0, "Decision: a detector box counts as an aurora only over an excess of at least this "
        "many sigma; weaker, it is kept as a flagged box.", minimum=0.0)
    screen_only_significance: float = knob(
        10.0, "Decision: an excess of at least this many sigma is an aurora even where the "
        "detector drew no box (in the clean night, AURORA_CLEAN_NIGHT_SCREEN_ONLY_SIGNIFICANCE "
        "or this, whichever is lower).", minimum=0.0)
    clean_night_screen_only_significance: float = knob(
        8.0, "Decision: where it peaks in the clean night (emission angle up to 60 deg, solar "
        "zenith angle 10 deg past the search's edge), where no limb or terminator misfit "
        "reaches, an excess of this many sigma is enough.", minimum=0.0)
    support_confidence: float = knob(
        0.05, "Decision: with the physical screen, a detector box this confident, though under "
        "AURORA_DETECT_CONFIDENCE, makes a feature of AURORA_SUPPORT_SIGNIFICANCE an aurora; "
        "such a weak box is neither flagged nor merges further features.", minimum=0.0)
    broad_px: int = knob(
        300, "Decision: past the terminator band, a feature of this many detector pixels or "
        "more needs a detector box unless its summed excess is at least "
        "AURORA_BROAD_MIN_CONTRAST of the night glow under it, however many sigma it holds.",
        minimum=1)
    broad_min_contrast: float = knob(
        0.6, "Decision: the least summed excess, as a share of the night glow under it, with "
        "which a feature of AURORA_BROAD_PX pixels or more is an aurora without a box.",
        minimum=0.0)

    def screen_alone_decides(self, significance: float, *, clean_night: bool,
                             past_terminator: bool, area_px: int, contrast: float) -> bool:
        """Whether a feature is an aurora without a detector box: ``significance`` at the
        screen-only bar (in the clean night, the lower of the two thresholds), and, when it is
        broad and past the terminator band, standing out of the night glow by
        ``broad_min_contrast``. A broad excess a fraction of the night glow under it is what
        a misfit of the glow's fit looks like in scans far less noisy than ours, and the sum
        over its many pixels makes it many sigma; in the terminator band an aurora lies over
        the dayglow tail, and stands less far out of it (docs/screens.md, "Why a broad, faint
        excess needs a box")."""
        bar = self.screen_only_significance
        if clean_night:
            bar = min(bar, self.clean_night_screen_only_significance)
        return significance >= bar and not self.broad_and_faint(
            past_terminator=past_terminator, area_px=area_px, contrast=contrast)

    def broad_and_faint(self, *, past_terminator: bool, area_px: int, contrast: float) -> bool:
        """Whether a feature is a broad excess a fraction of the night glow under it past the
        terminator band: what only the heatmap's box can make an aurora."""
        return (past_terminator and area_px >= self.broad_px
                and contrast < self.broad_min_contrast)

    def screen_only(self, feature: Feature) -> bool:
        """Whether ``feature`` is strong enough to be an aurora without a detector box."""
        return self.screen_alone_decides(
            feature.significance, clean_night=feature.clean_night,
            past_terminator=feature.past_terminator, area_px=feature.area_px,
            contrast=feature.contrast)


@dataclass(frozen=True)
class FusedAurora:
    """One aurora: the boxes that saw it, the feature that is it, and who decided."""

    boxes: tuple[Detection, ...]
    feature: Feature | None
    decided_by: str
    parts: tuple[Feature, ...] = ()
    """Further features inside the boxes, not connected to ``feature`` but of the same aurora."""

    @property
    def features(self) -> tuple[Feature, ...]:
        """Every feature of this aurora, the deciding one first."""
        return ((self.feature,) if self.feature else ()) + self.parts

    @property
    def confidence(self) -> float | None:
        """The detector's highest confidence among the merged boxes; None when it drew none."""
        return max((box.confidence for box in self.boxes), default=None)

    @property
    def box_px(self) -> tuple[float, float, float, float] | None:
        """The union of the merged boxes; None when the detector drew none."""
        return union_box(self.boxes) if self.boxes else None


@dataclass(frozen=True)
class Fusion:
    """What fusion made of one scan."""

    auroras: tuple[FusedAurora, ...]
    flagged: tuple[Detection, ...] = field(default_factory=tuple)
    """Detector boxes with no physical excess under them."""


def fuse(excess: FeatureMap, heatmap: Heatmap, boxes: Sequence[Detection] | None, *,
         physical_evidence: bool, candidate: Callable[[Feature], bool],
         params: FusionParams = FusionParams(),
         confident: float = DEFAULT_CONFIDENCE) -> Fusion:
    """Join the detector's aurora boxes with the scan's excess features.

    Parameters
    ----------
    excess : FeatureMap
        The scan's excess map and features.
    heatmap : Heatmap
        The picture the boxes are on, with its map back to detector pixels.
    boxes : sequence of Detection, or None
        The detector's aurora boxes; None when no detector ran.
    physical_evidence : bool
        True with the physical screen: the evidence decides with the
        detector. False with the paper screen: the detector decides alone.
    candidate : callable
        Whether a feature passes the screen.
    params : FusionParams
        The significance thresholds and the weak boxes' confidence.
    confident : float
        The detector's own confidence threshold (``AURORA_DETECT_CONFIDENCE``):
        boxes under it are weak (see the module's docstring).
    """
    features = {feature.label: feature for feature in excess.features}
    if boxes is None:
        return Fusion(tuple(FusedAurora((), feature, "screen") for feature in excess.features
                            if candidate(feature) and params.screen_only(feature)))
    shown = {box: box_pixels(heatmap, box.box_px) for box in boxes}
    weak = [box for box in boxes
            if box.confidence < confident and box.confidence >= params.support_confidence]
    by_feature: dict[int, list[Detection]] = {}
    unassigned: list[Detection] = []
    for box in boxes:
        if box.confidence < confident:
            continue
        label = dominant_feature(excess, *shown[box])
        if label:
            by_feature.setdefault(label, []).append(box)
        else:
            unassigned.append(box)
    auroras: list[FusedAurora] = []
    flagged: list[Detection] = []
    for label, merged in by_feature.items():
        feature = features[label]
        if not physical_evidence:
            auroras.append(FusedAurora(tuple(merged), feature, "detector"))
        elif feature.significance >= params.support_significance:
            auroras.append(FusedAurora(tuple(merged), feature, "both"))
        else:
            flagged.extend(merged)
    auroras = _with_parts(auroras, excess, shown)
    if physical_evidence:
        flagged.extend(unassigned)
        taken = {feature.label for aurora in auroras for feature in aurora.features}
        weakly = _weakly_seen(weak, excess, shown, features, by_feature.keys() | taken, params)
        auroras += weakly
        taken |= {feature.label for aurora in weakly for feature in aurora.features}
        auroras += [FusedAurora((), feature, "screen") for feature in excess.features
                    if feature.label not in by_feature and feature.label not in taken
                    and candidate(feature) and params.screen_only(feature)]
    else:
        auroras += [FusedAurora((box,), None, "detector") for box in unassigned]
    auroras.sort(key=_strongest_first)
    return Fusion(tuple(auroras), tuple(flagged))


def _weakly_seen(weak: list[Detection], excess: FeatureMap,
                 shown: dict[Detection, tuple[np.ndarray, np.ndarray]],
                 features: dict[int, Feature], decided: set[int],
                 params: FusionParams) -> list[FusedAurora]:
    """The auroras weak boxes decide: features of ``support_significance`` outside
    ``decided`` (those a confident box was drawn on, and the auroras' parts), each with the
    weak boxes over it."""
    seen: dict[int, list[Detection]] = {}
    for box in weak:
        label = dominant_feature(excess, *shown[box])
        if (label and label not in decided
                and features[label].significance >= params.support_significance):
            seen.setdefault(label, []).append(box)
    return [FusedAurora(tuple(merged), features[label], "both") for label, merged in seen.items()]


def _with_parts(auroras: list[FusedAurora], excess: FeatureMap,
                shown: dict[Detection, tuple[np.ndarray, np.ndarray]]) -> list[FusedAurora]:
    """Each boxed aurora with the other features that hold most of their excess inside its
    boxes (each such feature joins the aurora whose boxes hold most of it); ``shown`` gives
    each box's detector pixels."""
    if not auroras:
        return auroras
    count = int(excess.labels.max()) + 1
    positive = np.clip(excess.excess_r, 0.0, None)
    whole = np.bincount(excess.labels.ravel(), weights=positive.ravel(), minlength=count)
    inside = np.zeros((len(auroras), count))
    for row, aurora in enumerate(auroras):
        covered = np.zeros(excess.labels.shape, dtype=bool)
        for box in aurora.boxes:
            covered[shown[box]] = True
        inside[row] = np.bincount(excess.labels[covered], weights=positive[covered],
                                  minlength=count)
    deciding = {feature.label for aurora in auroras for feature in aurora.features}
    parts: dict[int, list[Feature]] = {}
    for feature in excess.features:
        best = int(np.argmax(inside[:, feature.label]))
        if (feature.label not in deciding
                and inside[best, feature.label] > 0.5 * whole[feature.label]):
            parts.setdefault(best, []).append(feature)
    return [replace(aurora, parts=tuple(parts.get(row, ()))) for row, aurora in enumerate(auroras)]


def dominant_feature(excess: FeatureMap, integ: np.ndarray, slit: np.ndarray) -> int:
    """The feature holding the most positive excess among a box's detector pixels
    (:func:`box_pixels`); 0 for none."""
    labels = excess.labels[integ, slit]
    inside = labels > 0
    if not inside.any():
        return 0
    weight = np.clip(excess.excess_r[integ, slit][inside], 0.0, None) + 1e-9
    totals = np.bincount(labels[inside], weights=weight)
    return int(np.argmax(totals))


def union_box(boxes: Sequence[Detection]) -> tuple[float, float, float, float]:
    """The smallest heatmap box holding every one of ``boxes`` (at least one)."""
    x0, y0, x1, y1 = zip(*(box.box_px for box in boxes), strict=True)
    return (min(x0), min(y0), max(x1), max(y1))


def box_pixels(heatmap: Heatmap, box_px: tuple[float, float, float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct detector pixels ``(integrations, slit pixels)`` a heatmap box shows."""
    height, width = heatmap.integration.shape
    x0, y0 = max(int(np.floor(box_px[0])), 0), max(int(np.floor(box_px[1])), 0)
    x1, y1 = min(int(np.ceil(box_px[2])), width), min(int(np.ceil(box_px[3])), height)
    integ = heatmap.integration[y0:y1, x0:x1].ravel().astype(np.int64)
    slit = heatmap.slit_pixel[y0:y1, x0:x1].ravel().astype(np.int64)
    shown = integ != NO_SOURCE
    width_scan = int(slit.max(initial=0)) + 1
    flat = np.unique(integ[shown] * width_scan + slit[shown])
    return flat // width_scan, flat % width_scan


def _strongest_first(aurora: FusedAurora) -> float:
    return -(aurora.feature.significance if aurora.feature else 0.0)
