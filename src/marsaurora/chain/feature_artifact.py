"""The feature artifact: the screen's excess features, carried from classify to catalog.

The physical screen measures the scan's excess map (about 20 ms a scan);
the catalog step needs its features again to fuse the detector's boxes and
locate each aurora. Rather than measure it twice, classify stores what the
catalog reads of it, and only that: the features, and the labels and excess
of the pixels that belong to one (:class:`~marsaurora.classify.features.FeatureMap`).
Those are a few hundred pixels of a scan's tens of thousands, a few KB.
Every other pixel is rebuilt as 0, which is what fusion and the catalogue
read there (they look at excess only where a label is), so the records
equal an in-process run's.

Plain ``numpy.savez`` with a JSON ``meta`` entry and a format version, as
the scan artifact (no pickles; loading never runs code).
"""

import io
import json
import zipfile
from dataclasses import asdict

import numpy as np

from marsaurora.classify.features import Feature, FeatureMap

FORMAT_VERSION = 3


class FeatureArtifactError(ValueError):
    """A stored feature artifact cannot be loaded (damaged, or another format version)."""


def dump_features(features: FeatureMap) -> bytes:
    """Serialise the labelled pixels and the features of one scan's excess map."""
    index = np.flatnonzero(features.labels).astype(np.int64)
    meta = {"format_version": FORMAT_VERSION, "shape": list(features.labels.shape),
            "features": [asdict(feature) for feature in features.features]}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), index=index,
             labels=features.labels.ravel()[index], excess_r=features.excess_r.ravel()[index])
    return buffer.getvalue()


def load_features(data: bytes, shape: tuple[int, int]) -> FeatureMap:
    """Rebuild the feature map of a scan of ``shape`` from :func:`dump_features` bytes.

    Raises
    ------
    FeatureArtifactError
        When the bytes are not a feature artifact of this format version, or
        belong to a scan of another shape.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            index, labels, excess = stored["index"], stored["labels"], stored["excess_r"]
        if meta.get("format_version") != FORMAT_VERSION:
            raise FeatureArtifactError(
                f"feature artifact format {meta.get('format_version')!r} is not "
                f"{FORMAT_VERSION}; re-run classify with this version of marsaurora")
        if tuple(meta["shape"]) != tuple(shape):
            raise FeatureArtifactError(f"feature artifact is of a {meta['shape']} scan, not "
                                       f"{list(shape)}; re-run classify on the observation")
        features = tuple(Feature(**{**fields, "peak_pixel": tuple(fields["peak_pixel"]),
                                    "integration_range": tuple(fields["integration_range"]),
                                    "slit_pixel_range": tuple(fields["slit_pixel_range"])})
                         for fields in meta["features"])
        label_map = np.zeros(shape, np.int32)
        excess_map = np.zeros(shape, np.float64)
        label_map.ravel()[index] = labels
        excess_map.ravel()[index] = excess
    except FeatureArtifactError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as exc:
        raise FeatureArtifactError(f"stored feature artifact is unreadable ({exc}); "
                                   "re-run classify on the observation") from None
    return FeatureMap(excess_r=excess_map, labels=label_map, features=features)
