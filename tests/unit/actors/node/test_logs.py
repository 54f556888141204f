"""The node log: one JSON object per line, tracebacks in the file and never on stderr."""

from __future__ import annotations

import json
import logging

import pytest

from swarmnode.actors.node.logs import BriefFormatter, JsonFormatter


def record(msg: str, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    rec = logging.LogRecord("swarmnode.test", logging.WARNING, __file__, 1, msg, (), exc_info)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_carry_level_logger_message_and_extras():
    line = JsonFormatter().format(record("refused %s", peer="abc", count=3))
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["logger"] == "swarmnode.test"
    assert entry["peer"] == "abc" and entry["count"] == 3
    assert entry["time"].endswith("Z")
    assert "\n" not in line


def test_tracebacks_go_to_the_json_log_but_not_to_stderr():
    rec = record("it failed", exc=True)
    assert "ValueError: bad" in json.loads(JsonFormatter().format(rec))["exc"]
    brief = BriefFormatter().format(rec)
    assert "Traceback" not in brief and brief.endswith("it failed")


@pytest.mark.parametrize("value", [object(), {"a": 1}, [1, 2]])
def test_odd_extras_are_written_as_text(value):
    assert isinstance(json.loads(JsonFormatter().format(record("m", odd=value)))["odd"], str)
