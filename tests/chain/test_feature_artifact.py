"""The feature artifact: the screen's excess features, from classify to catalog, exactly."""

import io

import numpy as np
import pytest

from marsaurora.chain.feature_artifact import (FORMAT_VERSION, FeatureArtifactError, dump_features,
                                               load_features)
from marsaurora.classify.excess import excess_map
from marsaurora.emus import read_l2b


def test_what_catalog_reads_comes_back_exactly(aurora_file):
    observation = read_l2b(aurora_file)
    measured = excess_map(observation)
    assert measured.features, "the aurora scene should have an excess feature"
    carried = load_features(dump_features(measured), observation.shape)
    assert carried.features == measured.features
    assert np.array_equal(carried.labels, measured.labels)
    labelled = measured.labels > 0
    assert np.array_equal(carried.excess_r[labelled], measured.excess_r[labelled])
    assert not carried.excess_r[~labelled].any()
    for feature in measured.features:
        assert all(np.array_equal(a, b) for a, b in zip(carried.pixels(feature),
                                                        measured.pixels(feature), strict=True))


def test_a_damaged_or_foreign_artifact_is_refused_in_words(aurora_file):
    observation = read_l2b(aurora_file)
    stored = dump_features(excess_map(observation))
    with pytest.raises(FeatureArtifactError, match="unreadable"):
        load_features(stored[: len(stored) // 2], observation.shape)
    with pytest.raises(FeatureArtifactError, match="re-run classify"):
        load_features(stored, (observation.shape[0] + 1, observation.shape[1]))
    with np.load(io.BytesIO(stored)) as parts:
        arrays = {name: parts[name] for name in parts.files}
    meta = str(arrays["meta"]).replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 9')
    arrays["meta"] = np.array(meta)
    other = io.BytesIO()
    np.savez(other, **arrays)
    with pytest.raises(FeatureArtifactError, match="format 9"):
        load_features(other.getvalue(), observation.shape)
