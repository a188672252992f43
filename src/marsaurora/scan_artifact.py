"""The scan artifact: what preprocess hands to the later stages.

Reading an L2B file is the costliest step of the chain (gzip inflate plus
FITS decoding), so it happens once. Preprocess stores the decoded
observation and the heatmap's frame (its transform) as one ``.npz`` next to
the heatmap PNG; classify and catalog load it in milliseconds and get arrays
identical to an in-process run, so every mode decides alike. Only steps that
need the picture fetch the PNG too.

The format is plain ``numpy.savez`` (no pickles; loading never runs code)
with a JSON ``meta`` entry for the non-array fields and a format version.
"""

import io
import json
import zipfile
from dataclasses import asdict
from datetime import datetime
from typing import Any

import numpy as np

from marsaurora.emus import EmusFileName, Observation
from marsaurora.preprocess import DiskFit, HeatmapFrame

FORMAT_VERSION = 2
ARRAY_FIELDS = ("brightness_r", "brightness_err_r", "lat_deg", "lon_deg", "lat_corners_deg",
                "lon_corners_deg", "sza_deg", "emission_deg", "local_time_h", "mrh_alt_km",
                "sc_alt_km")


class ScanArtifactError(ValueError):
    """A stored scan artifact cannot be loaded (damaged, or another format version)."""


def dump_scan(observation: Observation, heatmap: HeatmapFrame) -> bytes:
    """Serialise the observation and the heatmap's frame (not its pixels)."""
    meta = {
        "format_version": FORMAT_VERSION,
        "name": observation.name,
        "filename": _filename_to_json(observation.filename),
        "time_utc": list(observation.time_utc),
        "radiance_axes": observation.radiance_axes,
        "centre_point": observation.centre_point,
        "warnings": list(observation.warnings),
        "disk_centre": list(heatmap.disk.centre),
        "disk_method": heatmap.disk.method,
        "log_range_r": list(heatmap.log_range_r),
    }
    arrays = {name: getattr(observation, name) for name in ARRAY_FIELDS}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), disk_shape_matrix=heatmap.disk.shape_matrix,
             scan_to_px=heatmap.scan_to_px, **arrays)
    return buffer.getvalue()


def load_scan(data: bytes) -> tuple[Observation, HeatmapFrame]:
    """Rebuild the observation and the heatmap's frame from :func:`dump_scan` bytes.

    ``Heatmap.restore`` adds the picture where a step needs it.

    Raises
    ------
    ScanArtifactError
        When the bytes are not a scan artifact of this format version.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            arrays = {name: stored[name] for name in ARRAY_FIELDS}
            shape_matrix = stored["disk_shape_matrix"]
            scan_to_px = stored["scan_to_px"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ScanArtifactError(f"stored scan artifact is unreadable ({exc}); "
                                "re-run preprocess on the observation") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ScanArtifactError(
            f"scan artifact format {meta.get('format_version')!r} is not {FORMAT_VERSION}; "
            "re-run preprocess with this version of marsaurora")
    observation = Observation(
        name=meta["name"], filename=_filename_from_json(meta["filename"]),
        time_utc=tuple(meta["time_utc"]), radiance_axes=meta["radiance_axes"],
        centre_point=int(meta["centre_point"]), warnings=tuple(meta["warnings"]), **arrays)
    disk = DiskFit(centre=tuple(meta["disk_centre"]), shape_matrix=shape_matrix,
                   method=meta["disk_method"])
    return observation, HeatmapFrame(scan_to_px=scan_to_px, disk=disk,
                                     log_range_r=tuple(meta["log_range_r"]))


def _filename_to_json(name: EmusFileName | None) -> dict[str, Any] | None:
    if name is None:
        return None
    fields = asdict(name)
    fields["start_utc"] = name.start_utc.isoformat()
    return fields


def _filename_from_json(fields: dict[str, Any] | None) -> EmusFileName | None:
    if fields is None:
        return None
    return EmusFileName(**{**fields, "start_utc": datetime.fromisoformat(fields["start_utc"])})
