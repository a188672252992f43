"""The aurora catalogue as a VOTable with EPN-core columns, for VESPA (EPN-TAP v2) and TOPCAT.

Each aurora is one granule, a catalogue item (``dataproduct_type = ci``)
whose coordinates are its extent on Mars in body-fixed coordinates:
``c1min``..``c1max`` the longitude range east from its westernmost point
(it may pass 0 deg: then ``c1min > c1max``, as EPN-TAP allows),
``c2min``..``c2max`` the latitude range. The columns are EPN-TAP v2's
mandatory set, in its order, with its units and UCDs (IVOA Recommendation
EPN-TAP 2.0, table of EPNCore parameters), then the optional EPNcore
parameters we know (solar longitude, local time, Sun distance, file name),
then our own measurements. Unknown values are empty (null), as EPN-TAP asks.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.pipeline import observation_stem

SPEED_OF_LIGHT_M_S = 299_792_458.0
O_I_TRIPLET_NM = (130.2, 130.6)
"""The O I 130.4 nm triplet: 130.22, 130.49 and 130.60 nm, rounded outwards."""
JD_UNIX_EPOCH = 2440587.5
SERVICE_TITLE = "emus_aurora"

Column = tuple[str, str, str | None, str, str]
"""name, kind (``text``, ``int``, ``float``, ``double``, ``timestamp``), unit, UCD, description."""

EPN_MANDATORY: tuple[Column, ...] = (
    ("granule_uid", "text", None, "meta.id", "Unique ID of the aurora: observation#index"),
    ("granule_gid", "text", None, "meta.id", "Common to granules of the same type"),
    ("obs_id", "text", None, "meta.id;obs", "The EMUS observation the aurora was seen in"),
    ("dataproduct_type", "text", None, "meta.code.class", "ci: catalogue item"),
    ("measurement_type", "text", None, "meta.ucd", "UCD of the measured quantity"),
    ("processing_level", "int", None, "meta.calibLevel", "5: derived data"),
    ("target_name", "text", None, "meta.id;src", "Standard IAU name of the target"),
    ("target_class", "text", None, "src.class", "Type of target"),
    ("time_min", "double", "d", "time.start;obs", "UTC of the integration holding the peak (JD)"),
    ("time_max", "double", "d", "time.end;obs", "UTC of the integration holding the peak (JD)"),
    ("time_sampling_step_min", "float", "s", "time.resolution;stat.min", "Not given"),
    ("time_sampling_step_max", "float", "s", "time.resolution;stat.max", "Not given"),
    ("time_exp_min", "float", "s", "time.duration;obs.exposure;stat.min", "Not given"),
    ("time_exp_max", "float", "s", "time.duration;obs.exposure;stat.max", "Not given"),
    ("spectral_range_min", "float", "Hz", "em.freq;stat.min", "O I 130.4 nm triplet, low end"),
    ("spectral_range_max", "float", "Hz", "em.freq;stat.max", "O I 130.4 nm triplet, high end"),
    ("spectral_sampling_step_min", "float", "Hz", "em.freq;spect.binSize;stat.min", "Not given"),
    ("spectral_sampling_step_max", "float", "Hz", "em.freq;spect.binSize;stat.max", "Not given"),
    ("spectral_resolution_min", "float", None, "spect.resolution;stat.min", "Not given"),
    ("spectral_resolution_max", "float", None, "spect.resolution;stat.max", "Not given"),
    ("c1min", "float", "deg", "pos.bodyrc.lon;stat.min", "Westernmost longitude (east)"),
    ("c1max", "float", "deg", "pos.bodyrc.lon;stat.max", "Easternmost longitude (east)"),
    ("c2min", "float", "deg", "pos.bodyrc.lat;stat.min", "Southernmost latitude"),
    ("c2max", "float", "deg", "pos.bodyrc.lat;stat.max", "Northernmost latitude"),
    ("c3min", "float", "km", "pos.bodyrc.alt;stat.min", "Not given"),
    ("c3max", "float", "km", "pos.bodyrc.alt;stat.max", "Not given"),
    ("s_region", "text", None, "pos.outline;obs.field", "Not given"),
    ("c1_resol_min", "float", "deg", "pos.angResolution;stat.min", "Not given"),
    ("c1_resol_max", "float", "deg", "pos.angResolution;stat.max", "Not given"),
    ("c2_resol_min", "float", "deg", "pos.angResolution;stat.min", "Not given"),
    ("c2_resol_max", "float", "deg", "pos.angResolution;stat.max", "Not given"),
    ("c3_resol_min", "float", "km", "pos.resolution;stat.min", "Not given"),
    ("c3_resol_max", "float", "km", "pos.resolution;stat.max", "Not given"),
    ("spatial_frame_type", "text", None, "meta.code.class;pos.frame", "body: body-fixed"),
    ("incidence_min", "float", "deg", "pos.incidenceAng;stat.min",
     "Solar zenith angle at the aurora's centroid"),
    ("incidence_max", "float", "deg", "pos.incidenceAng;stat.max",
     "Solar zenith angle at the aurora's centroid"),
    ("emergence_min", "float", "deg", "pos.emergenceAng;stat.min",
     "Emission angle at the aurora's centroid"),
    ("emergence_max", "float", "deg", "pos.emergenceAng;stat.max",
     "Emission angle at the aurora's centroid"),
    ("phase_min", "float", "deg", "pos.phaseAng;stat.min", "Not given"),
    ("phase_max", "float", "deg", "pos.phaseAng;stat.max", "Not given"),
    ("instrument_host_name", "text", None, "meta.id;instr.obsty", "Spacecraft"),
    ("instrument_name", "text", None, "meta.id;instr", "Instrument"),
    ("service_title", "text", None, "meta.title", "Title of the resource"),
    ("creation_date", "timestamp", None, "time.creation", "When this catalogue was written"),
    ("modification_date", "timestamp", None, "time.processing",
     "When this catalogue was written"),
    ("release_date", "timestamp", None, "time.release", "When this catalogue was written"),
)
"""EPN-TAP v2's mandatory parameters, in the specification's order."""

EPN_OPTIONAL: tuple[Column, ...] = (
    ("solar_longitude_min", "float", "deg", "pos.ecliptic.lon;pos.heliocentric;stat.min",
     "Solar longitude Ls at the peak"),
    ("solar_longitude_max", "float", "deg", "pos.ecliptic.lon;pos.heliocentric;stat.max",
     "Solar longitude Ls at the peak"),
    ("local_time_min", "float", "h", "time.phase;time.period.rotation;stat.min",
     "Local solar time at the centroid"),
    ("local_time_max", "float", "h", "time.phase;time.period.rotation;stat.max",
     "Local solar time at the centroid"),
    ("sun_distance_min", "float", "AU", "pos.distance;stat.min", "Mars-Sun distance"),
    ("sun_distance_max", "float", "AU", "pos.distance;stat.max", "Mars-Sun distance"),
    ("file_name", "text", None, "meta.id;meta.file", "The EMUS L2B file"),
)

OWN: tuple[Column, ...] = (
    ("lat_deg", "float", "deg", "pos.bodyrc.lat", "Excess-weighted centroid latitude"),
    ("lon_deg", "float", "deg", "pos.bodyrc.lon", "Excess-weighted centroid longitude (east)"),
    ("peak_r", "float", "R", "phot.flux;stat.max", "Peak O I 130.4 nm brightness"),
    ("mean_r", "float", "R", "phot.flux;stat.mean", "Mean brightness of the emitting pixels"),
    ("background_r", "float", "R", "phot.flux;instr.background", "Night background under it"),
    ("area_km2", "float", "km**2", "phys.area", "Area of the emitting pixels"),
    ("significance", "float", None, "stat.snr", "Summed excess over its noise (sigma)"),
    ("confidence", "float", None, "stat.probability", "Detector confidence (null: screen only)"),
    ("decided_by", "text", None, "meta.code", "both, screen or detector"),
    ("n_boxes", "int", None, "meta.number", "Detector boxes merged into this aurora"),
    ("sc_alt_km", "float", "km", "pos.bodyrc.alt", "Spacecraft altitude at the peak"),
    ("product_version", "text", None, "meta.version", "Version of the L2B product"),
    ("image_set", "text", None, "meta.id;obs",
     "EMUS image set (the swath files that together cover the disk): <start>_<mode> of its first"),
)

COLUMNS = EPN_MANDATORY + EPN_OPTIONAL + OWN
_KIND = {"text": (object, "char"), "timestamp": (object, "char"), "int": (np.int32, "int"),
         "float": (np.float32, "float"), "double": (np.float64, "double")}


def granules(rows: Iterable[dict[str, Any]], *, written: datetime) -> list[dict[str, Any]]:
    """EPN-core rows from catalogue rows (:func:`marsaurora.catalog.catalog_rows`)."""
    stamp = written.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    low_hz, high_hz = (SPEED_OF_LIGHT_M_S / (nm * 1e-9) for nm in reversed(O_I_TRIPLET_NM))
    out = []
    for row in rows:
        stem = observation_stem(row["observation"])
        jd = _julian_date(row["peak_utc"] or row["start_utc"])
        out.append({
            "granule_uid": f"{stem}#{row['index']}", "granule_gid": "aurora_detection",
            "obs_id": stem, "dataproduct_type": "ci", "measurement_type": "phot.flux;em.UV",
            "processing_level": 5, "target_name": "Mars", "target_class": "planet",
            "time_min": jd, "time_max": jd,
            "spectral_range_min": low_hz, "spectral_range_max": high_hz,
            "c1min": row["lon_min_deg"], "c1max": row["lon_max_deg"],
            "c2min": row["lat_min_deg"], "c2max": row["lat_max_deg"],
            "spatial_frame_type": "body",
            "incidence_min": row["sza_deg"], "incidence_max": row["sza_deg"],
            "emergence_min": row["emission_deg"], "emergence_max": row["emission_deg"],
            "instrument_host_name": "Emirates Mars Mission", "instrument_name": "EMUS",
            "service_title": SERVICE_TITLE,
            "creation_date": stamp, "modification_date": stamp, "release_date": stamp,
            "solar_longitude_min": row["ls_deg"], "solar_longitude_max": row["ls_deg"],
            "local_time_min": row["local_time_h"], "local_time_max": row["local_time_h"],
            "sun_distance_min": row["sun_distance_au"], "sun_distance_max": row["sun_distance_au"],
            "file_name": row["observation"],
            **{name: row[name] for name, *_ in OWN},
        })
    return out


def write_votable(rows: Iterable[dict[str, Any]], path: Path, *,
                  written: datetime | None = None) -> Path:
    """Write ``path`` (VOTable 1.4, TABLEDATA) from catalogue rows; returns it."""
    from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

    table_rows = granules(rows, written=written or datetime.now(UTC))
    votable = VOTableFile(version="1.4")
    resource = Resource()
    votable.resources.append(resource)
    resource.infos.append(Info(name="QUERY_STATUS", value="OK"))
    table = TableElement(votable, name="epn_core", nrows=len(table_rows))
    resource.tables.append(table)
    for name, kind, unit, ucd, description in COLUMNS:
        field = Field(votable, name=name, ID=name, datatype=_KIND[kind][1], unit=unit, ucd=ucd,
                      arraysize="*" if kind in ("text", "timestamp") else None,
                      xtype="timestamp" if kind == "timestamp" else None)
        field.description = description
        table.fields.append(field)
    table.create_arrays(len(table_rows))
    for index, granule in enumerate(table_rows):
        table.array[index] = tuple(_value(granule.get(name), kind)
                                   for name, kind, *_ in COLUMNS)
        for name, kind, *_ in COLUMNS:
            table.array.mask[name][index] = _missing(granule.get(name), kind)
    votable.to_xml(str(path), tabledata_format="tabledata")
    return path


def _value(value: Any, kind: str) -> Any:
    if _missing(value, kind):
        return "" if kind in ("text", "timestamp") else 0
    return value


def _missing(value: Any, kind: str) -> bool:
    if value is None or (kind in ("text", "timestamp") and value == ""):
        return True
    if kind == "int":
        return value < 0
    return isinstance(value, float) and not np.isfinite(value)


def _julian_date(utc: str) -> float:
    if not utc:
        return float("nan")
    moment = datetime.fromisoformat(utc.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return JD_UNIX_EPOCH + moment.timestamp() / 86400.0
