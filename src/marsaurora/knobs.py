"""Science parameters that users may set: declared once, where the science defines them.

A parameter dataclass marks a field as a knob with :func:`knob` (default,
help text, bounds). :mod:`marsaurora.config` turns every knob into an
``AURORA_*`` setting (:func:`settings_fields`) and the pipeline builds the
dataclass back from the settings (:func:`from_settings`), so adding a knob
touches one place: its field.
"""

from dataclasses import MISSING, Field, field, fields
from typing import Any, TypeVar

Params = TypeVar("Params")


def knob(default: Any, help_text: str, *, minimum: float | None = None,
         choices: tuple[Any, ...] = ()) -> Any:
    """A dataclass field that is also a setting, with the words the README and ``--help`` show."""
    return field(default=default,
                 metadata={"help": help_text, "minimum": minimum, "choices": choices})


def is_knob(spec: Field) -> bool:
    """Whether a dataclass field was declared with :func:`knob`."""
    return "help" in spec.metadata


def settings_fields(params: type, prefix: str = "") -> list[tuple[str, Any, Field]]:
    """``(setting name, type, field)`` of every knob of ``params``, for ``make_dataclass``."""
    found = []
    for spec in fields(params):
        if is_knob(spec):
            if spec.default is MISSING:
                raise TypeError(f"knob {params.__name__}.{spec.name} needs a default")
            found.append((prefix + spec.name, spec.type,
                          field(default=spec.default, metadata=spec.metadata)))
    return found


def from_settings(params: type[Params], settings: Any, prefix: str = "") -> Params:
    """``params`` with every knob read from ``settings`` (the rest keep their defaults)."""
    return params(**{spec.name: getattr(settings, prefix + spec.name)
                     for spec in fields(params) if is_knob(spec)})
