"""The node's log: JSON lines in the state directory, and short readable lines on stderr."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["LOG_FILE", "SAID", "JsonFormatter", "configure_logging"]

LOG_FILE = "node.log"
# extra= of a record whose text the process also says on stderr in its own words: file only.
SAID = {"said": True}
_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, thread, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "thread": record.threadName,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class BriefFormatter(logging.Formatter):
    """Format a record on one line without its traceback: people read stderr, the log keeps the rest."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        brief = logging.makeLogRecord(vars(record))
        brief.exc_info = None
        brief.exc_text = None
        brief.stack_info = None
        return super().format(brief)


class _LogFile(logging.FileHandler):
    """node.log; a write that fails (a full disk) is said once on stderr, not as a traceback per record."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        # A record cut short when the disk filled (the process stopped before it could finish
        # it) is ended here: the records of this process each begin a line of their own.
        with contextlib.suppress(OSError, ValueError), path.open("rb") as before:
            size = before.seek(0, os.SEEK_END)
            if size:
                before.seek(size - 1)
                if before.read(1) != b"\n":
                    self.stream.write("\n")  # type: ignore[union-attr]  # opened above (delay=False)
        self.lost = 0  # records whose write failed since writing began to fail (some may follow later)
        self._failed = False  # the record being written failed

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)  # calls handleError on a failure
        if self.lost and not self._failed:
            _say(
                f"swarm-node: writing the node log {self.baseFilename} again; up to {self.lost} records may be missing"
            )
            self.lost = 0

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)  # a bug: its traceback
            return
        self._failed = True
        if not self.lost:
            _say(
                f"swarm-node: cannot write the node log {self.baseFilename} ({error.strerror}); records may be "
                "lost until it can, and warnings still come here"
            )
        self.lost += 1


def _say(text: str) -> None:
    """Print ``text`` on stderr; a stderr that fails too (a full disk, a closed pipe) is given up on,
    never raised into whoever logged."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr)


def configure_logging(state_dir: Path, *, verbose: bool = False) -> Path:
    """Send every record to ``state_dir/node.log`` as JSON, and the important ones to stderr."""
    path = state_dir / LOG_FILE
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = _LogFile(path)
    file_handler.setFormatter(JsonFormatter())
    file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setFormatter(BriefFormatter())
    stderr_handler.setLevel(logging.INFO if verbose else logging.WARNING)
    stderr_handler.addFilter(lambda record: not getattr(record, "said", False))
    root.addHandler(file_handler)
    root.addHandler(stderr_handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # pykka logs each failure once more at ERROR with the same traceback; ours is enough.
    logging.getLogger("pykka").setLevel(logging.CRITICAL)
    return path
