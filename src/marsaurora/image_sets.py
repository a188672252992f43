"""Which files make one EMUS image set: the swaths of a scan that together cover the disk.

An ``os2`` observation is taken as up to three swath files (``sw1of3`` .. ``sw3of3``), each
with its own start time in its name, and scientists count auroras per image set, not per
file. The EMUS team's file retrieval routine (SPEDAS ``emm_file_retrieve``) groups them so:
the files of one mode in order of start time, swath N in the set's place N, the set closed by
its last swath (N = M). Here a set is also closed when a file cannot continue it (another
orbit, another swath count, or a swath number that does not rise): where that routine lets a
lost ``sw3of3`` put the next set's first swath in place of this one's, here the two stay apart.

Versions of one file (the same start, mode and swath) share a set. A file whose swath field
is not ``swNofM`` (newer files write an integer id) is a set of its own, as is a file whose
name is not an EMUS name: nothing in such a name tells which other files belong with it.
A set is named after its first file, ``<start>_<mode>`` (``20220331t212107_os2``).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from marsaurora.emus import EmusFileName, parse_filename

_SWATH_OF = re.compile(r"^sw(?P<number>\d+)of(?P<count>\d+)$")


@dataclass(frozen=True)
class _OpenSet:
    name: str
    orbit: int
    count: int
    last_number: int


def image_sets(names: Iterable[str]) -> dict[str, str]:
    """Each file name's image set, named after the set's first file (see the module)."""
    sets: dict[str, str] = {}
    swaths: dict[tuple, tuple[EmusFileName, list[str]]] = {}
    for name in names:
        try:
            fields = parse_filename(name)
        except ValueError:
            sets[name] = Path(name).name
            continue
        key = (fields.start_utc, fields.mode, fields.swath)
        swaths.setdefault(key, (fields, []))[1].append(name)
    open_sets: dict[str, _OpenSet] = {}
    for key in sorted(swaths):
        fields, versions = swaths[key]
        sets.update(dict.fromkeys(versions, _set_of(open_sets, fields)))
    return sets


def _set_of(open_sets: dict[str, _OpenSet], fields: EmusFileName) -> str:
    """The set this file continues (the open one of its mode) or begins; keeps ``open_sets``,
    one per mode, current."""
    match = _SWATH_OF.match(fields.swath)
    if match is None:
        open_sets.pop(fields.mode, None)
        return _set_name(fields)
    number, count = int(match["number"]), int(match["count"])
    current = open_sets.get(fields.mode)
    continues = (current is not None and current.orbit == fields.orbit
                 and current.count == count and number > current.last_number)
    name = current.name if continues else _set_name(fields)
    if number >= count:
        open_sets.pop(fields.mode, None)
    else:
        open_sets[fields.mode] = _OpenSet(name, fields.orbit, count, number)
    return name


def _set_name(fields: EmusFileName) -> str:
    return f"{fields.start_utc:%Y%m%dt%H%M%S}_{fields.mode}"
