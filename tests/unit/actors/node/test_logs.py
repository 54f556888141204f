"""The node log: one JSON object per line, tracebacks in the file and never on stderr."""

from __future__ import annotations

import errno
import io
import json
import logging
import os

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


class Disk(io.StringIO):
    """A log file's stream on a disk that is full until told otherwise."""

    full = True

    def write(self, text: str) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(text)


def test_a_log_file_that_cannot_be_written_is_said_once_on_stderr_not_per_record(tmp_path, capsys):
    from swarmnode.actors.node.logs import _LogFile

    handler = _LogFile(tmp_path / "node.log")
    handler.setFormatter(JsonFormatter())
    disk = Disk()
    handler.stream.close()
    handler.stream = disk
    for i in range(3):
        handler.handle(record(f"lost {i}"))
    said = capsys.readouterr().err
    assert said.count("cannot write the node log") == 1 and "No space left on device" in said, said
    assert "Traceback" not in said
    disk.full = False  # room again
    handler.handle(record("kept"))
    said = capsys.readouterr().err
    assert "writing the node log" in said and "again; up to 3 records may be missing" in said, said
    assert "kept" in disk.getvalue()
    handler.handle(record("quiet"))
    assert capsys.readouterr().err == ""
    handler.close()


def test_a_stderr_that_fails_too_is_not_raised_into_whoever_logged(tmp_path, monkeypatch):
    from swarmnode.actors.node.logs import _LogFile

    handler = _LogFile(tmp_path / "node.log")
    handler.setFormatter(JsonFormatter())
    handler.stream.close()
    handler.stream = Disk()
    monkeypatch.setattr("sys.stderr", Disk())  # the same full disk
    handler.handle(record("lost"))  # raised OSError into the actor that logged
    assert handler.lost == 1
    handler.close()


def test_a_record_the_full_disk_cut_short_is_ended_by_the_next_process(tmp_path):
    """Stopped while its disk was full, a node left half a JSON line: the next one's records begin a line."""
    from swarmnode.actors.node.logs import _LogFile

    path = tmp_path / "node.log"
    path.write_text('{"ts": 1.0, "msg": "whole"}\n{"ts": 2.0, "ms')
    handler = _LogFile(path)
    handler.setFormatter(JsonFormatter())
    handler.handle(record("next"))
    handler.close()
    lines = path.read_text().splitlines()
    assert lines[:2] == ['{"ts": 1.0, "msg": "whole"}', '{"ts": 2.0, "ms'] and json.loads(lines[2])["msg"] == "next"
    again = _LogFile(path)  # a log that ends a line: nothing added
    again.close()
    assert path.read_text().count("\n") == 3
