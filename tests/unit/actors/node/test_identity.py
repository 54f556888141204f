"""State directory checks and the node identity kept in it."""

from __future__ import annotations

import json
import stat

import pytest

from swarmnode.actors.node.identity import (
    NODE_ID_CHARS,
    StateDirError,
    load_or_create_identity,
    new_node_id,
    prepare_state_dir,
)


def test_node_ids_are_random_base36_of_fixed_length():
    ids = {new_node_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == NODE_ID_CHARS and i.isalnum() and i.lower() == i for i in ids)


def test_state_dir_is_created_private(tmp_path):
    path = prepare_state_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_a_file_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StateDirError, match=r"exists and is not a directory|cannot create state dir"):
        prepare_state_dir(tmp_path / "f")
    with pytest.raises(StateDirError, match="cannot create state dir"):
        prepare_state_dir(tmp_path / "f" / "sub")


def test_identity_is_created_once_with_private_files(tmp_path):
    first = load_or_create_identity(tmp_path, "worker")
    again = load_or_create_identity(tmp_path, "worker")
    assert first == again
    assert len(first.keys.public) == 40 and len(first.keys.secret) == 40
    for name in ("node.json", "curve.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_another_role_is_refused_with_what_to_do(tmp_path):
    made = load_or_create_identity(tmp_path, "manager")
    with pytest.raises(StateDirError, match=f"holds a manager node \\({made.node_id}\\); start it with --role manager"):
        load_or_create_identity(tmp_path, "worker")


def test_a_damaged_identity_is_a_clear_error(tmp_path):
    load_or_create_identity(tmp_path, "manager")
    (tmp_path / "node.json").write_text(json.dumps({"role": "manager"}))
    with pytest.raises(StateDirError, match="holds a damaged node identity"):
        load_or_create_identity(tmp_path, "manager")
