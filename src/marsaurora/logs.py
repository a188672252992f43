"""One JSON object per log line, so logs from every mode can be searched alike.

Fields: ``time``, ``level``, ``logger``, ``message``, plus any of ``stage``,
``event_id``, ``key``, ``observation``, ``duration_ms`` passed in ``extra``.
Logs go to stderr; stdout stays free for command output.
"""

import json
import logging
import sys
from datetime import datetime, timezone

CONTEXT_FIELDS = ("stage", "event_id", "key", "observation", "duration_ms", "code")


class JsonFormatter(logging.Formatter):
    """Format a record as a single-line JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` with its context fields."""
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> None:
    """Send ``marsaurora`` logs to stderr as JSON lines at ``level``."""
    logger = logging.getLogger("marsaurora")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
