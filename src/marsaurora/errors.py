"""Why an observation could not be processed, as stable codes.

An :class:`ObservationError` ends the processing of one observation and
becomes its ``error`` record (``{"code", "message"}``); the batch goes on.
The codes are part of the output contract, so each is defined here once with
a description a scientist can act on.
"""

ERROR_CODES: dict[str, str] = {
    "not_found": "The input path does not exist or is not a regular file.",
    "not_fits": "The file is not FITS (nor gzip-compressed FITS).",
    "corrupt": "The file is FITS but cannot be decoded (bad header or data).",
    "truncated": "The file ends before the data its headers announce.",
    "missing_hdu": "A required extension (FOV_GEOM or EMISS) is absent.",
    "missing_column": "A required column is absent from an extension.",
    "missing_emission": "EMISS has no 'O I 130.4 triplet' row.",
    "shape_mismatch": "Brightness and geometry arrays do not describe the same scan.",
    "too_large": "The file or one of its extensions exceeds a configured limit.",
    "no_disk": "No pixel of the scan falls on the Martian disk.",
    "no_valid_data": "Every 130.4 nm brightness on the disk is missing (NaN).",
    "internal": "An unexpected failure inside marsaurora; please report it with the file.",
    "bad_event": "An event reached a stage without the attributes, data or key it needs.",
    "undeliverable": "The event chain gave up delivering this observation to a stage after "
                     "every retry; its dead letter under `dead-letter/` says where and why.",
}


class ObservationError(Exception):
    """One observation cannot be processed; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}; add it to ERROR_CODES")
        super().__init__(message)
        self.code = code
        self.message = message

    def to_record(self) -> dict[str, str]:
        """The ``error`` field of an ``observations.jsonl`` record."""
        return {"code": self.code, "message": self.message}
