"""The wire contract: every message kind of the project and its fields, checked against a golden file.

A change to a message's fields changes what other nodes must understand, so it must be a
deliberate one: this test fails until golden_messages.json is regenerated with

    SWARMNODE_UPDATE_GOLDEN=1 pytest tests/unit/actors/messages

The contract holds the messages defined inside the ``swarmnode`` package, found by
load_all_messages(); message classes that tests define (kinds starting with ``Test``) are
registered too but are not part of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from swarmnode import actors
from swarmnode.actors.messages import (
    WIRE_VERSION,
    load_all_messages,
    message_class,
    message_schema,
)
from swarmnode.actors.messages._catalog import _message_module_names

GOLDEN = Path(__file__).with_name("golden_messages.json")
UPDATE_VARIABLE = "SWARMNODE_UPDATE_GOLDEN"
HOW_TO_UPDATE = (
    f"If the change is intended, regenerate the golden file with\n"
    f"    {UPDATE_VARIABLE}=1 pytest tests/unit/actors/messages\n"
    f"and raise WIRE_VERSION if nodes running the old code cannot read the new messages."
)

Contract = dict[str, Any]


def project_contract() -> Contract:
    """Return ``{"wire_version": ..., "messages": {kind: {field: type}}}`` for the project's messages."""
    load_all_messages()
    schema = message_schema()
    messages = {kind: fields for kind, fields in schema.items() if _in_project(kind)}
    return {"wire_version": WIRE_VERSION, "messages": messages}


def _in_project(kind: str) -> bool:
    return message_class(kind).__module__.startswith("swarmnode.")


def contract_changes(old: Contract, new: Contract) -> list[str]:
    """Return one line per difference between two contracts; none when they are equal."""
    lines = []
    if old.get("wire_version") != new.get("wire_version"):
        lines.append(f"wire_version {old.get('wire_version')!r} -> {new.get('wire_version')!r}")
    old_kinds: dict[str, dict[str, str]] = old.get("messages", {})
    new_kinds: dict[str, dict[str, str]] = new.get("messages", {})
    for kind in sorted(new_kinds.keys() - old_kinds.keys()):
        lines.append(f"added kind {kind!r} {_fields(new_kinds[kind])}")
    for kind in sorted(old_kinds.keys() - new_kinds.keys()):
        lines.append(f"removed kind {kind!r} {_fields(old_kinds[kind])}")
    for kind in sorted(old_kinds.keys() & new_kinds.keys()):
        before, after = old_kinds[kind], new_kinds[kind]
        changes = [f"added field {f!r}: {after[f]}" for f in after if f not in before]
        changes += [f"removed field {f!r}: {before[f]}" for f in before if f not in after]
        changes += [f"field {f!r}: {before[f]} -> {after[f]}" for f in after if f in before and before[f] != after[f]]
        if changes:
            lines.append(f"changed kind {kind!r}: " + "; ".join(changes))
    return lines


def _fields(fields: dict[str, str]) -> str:
    return "(" + ", ".join(f"{name}: {tp}" for name, tp in fields.items()) + ")"


def check_golden(path: Path, current: Contract, *, update: bool) -> None:
    """Fail the test when ``current`` differs from the contract in ``path``; rewrite it if ``update``."""
    if update:
        path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
        return
    try:
        golden = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        unreadable = f"cannot read the golden wire contract {path}: {exc}"
    else:
        unreadable = ""
    if unreadable:
        pytest.fail(f"{unreadable}\n{HOW_TO_UPDATE}", pytrace=False)
    changes = contract_changes(golden, current)
    if changes:
        listing = "\n".join("  " + line for line in changes)
        pytest.fail(f"the message schema differs from {path.name}:\n{listing}\n{HOW_TO_UPDATE}", pytrace=False)


def test_the_message_schema_matches_the_golden_file():
    update = os.environ.get(UPDATE_VARIABLE, "") not in ("", "0")
    check_golden(GOLDEN, project_contract(), update=update)


def test_the_contract_excludes_the_kinds_tests_define():
    kinds = project_contract()["messages"]
    assert {"Error", "Ping", "Pong", "StreamEnd", "Crash"} <= kinds.keys()
    assert not [k for k in kinds if k.startswith("Test")]


# --- the check itself ------------------------------------------------------------------------

OLD: Contract = {
    "wire_version": 1,
    "messages": {
        "Kept": {"a": "int"},
        "Gone": {"x": "str"},
        "Changed": {"same": "bool", "retyped": "int", "dropped": "bytes"},
    },
}
NEW: Contract = {
    "wire_version": 2,
    "messages": {
        "Kept": {"a": "int"},
        "Fresh": {"y": "array[str]", "z": "int | nil"},
        "Changed": {"same": "bool", "retyped": "str", "added": "float"},
    },
}


def test_changes_name_every_added_removed_and_changed_kind_and_field():
    assert contract_changes(OLD, NEW) == [
        "wire_version 1 -> 2",
        "added kind 'Fresh' (y: array[str], z: int | nil)",
        "removed kind 'Gone' (x: str)",
        "changed kind 'Changed': added field 'added': float; removed field 'dropped': bytes; "
        "field 'retyped': int -> str",
    ]


def test_equal_contracts_have_no_changes_whatever_the_field_order():
    reordered = {"wire_version": 1, "messages": {"Changed": {"dropped": "bytes", "retyped": "int", "same": "bool"}}}
    original = {"wire_version": 1, "messages": {"Changed": OLD["messages"]["Changed"]}}
    assert contract_changes(original, reordered) == []


def test_a_difference_fails_with_the_changes_and_how_to_regenerate(tmp_path: Path):
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(OLD))
    with pytest.raises(pytest.fail.Exception) as info:
        check_golden(path, NEW, update=False)
    text = str(info.value)
    assert "added kind 'Fresh'" in text
    assert "removed kind 'Gone'" in text
    assert "field 'retyped': int -> str" in text
    assert f"{UPDATE_VARIABLE}=1 pytest tests/unit/actors/messages" in text


def test_a_missing_golden_file_fails_with_how_to_regenerate(tmp_path: Path):
    with pytest.raises(pytest.fail.Exception, match=UPDATE_VARIABLE):
        check_golden(tmp_path / "absent.json", NEW, update=False)


def test_update_mode_rewrites_the_file_and_passes(tmp_path: Path):
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(OLD))
    check_golden(path, NEW, update=True)
    assert json.loads(path.read_text()) == NEW
    check_golden(path, NEW, update=False)


def test_the_environment_variable_turns_on_update_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(f"{__name__}.GOLDEN", tmp_path / "golden.json")
    monkeypatch.setenv(UPDATE_VARIABLE, "1")
    test_the_message_schema_matches_the_golden_file()
    assert json.loads((tmp_path / "golden.json").read_text()) == project_contract()


# --- finding the message modules -------------------------------------------------------------


def message_modules_on_disk() -> set[str]:
    """Return the dotted names of the ``messages`` modules and packages in swarmnode.actors' folders."""
    found = set()
    for root in map(Path, actors.__path__):
        for path in [*root.rglob("messages.py"), *root.rglob("messages/__init__.py")]:
            module = path.parent if path.name == "__init__.py" else path.with_suffix("")
            parts = module.relative_to(root).parts
            packages = [root.joinpath(*parts[:i]) for i in range(1, len(parts))]
            if all((p / "__init__.py").exists() for p in packages):  # else not importable
                found.add(".".join((actors.__name__, *parts)))
    return found


def test_walk_packages_finds_every_message_module_of_the_editable_install():
    names = _message_module_names()
    assert "swarmnode.actors.messages" in names
    assert set(names) == message_modules_on_disk()


def test_loading_imports_every_message_module(monkeypatch: pytest.MonkeyPatch):
    imported: list[str] = []
    monkeypatch.setattr("importlib.import_module", imported.append)
    load_all_messages()
    assert imported == _message_module_names()
