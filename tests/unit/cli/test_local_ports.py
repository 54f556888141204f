"""The ports handed to local clusters: free, and out of the way of outgoing connections."""

from __future__ import annotations

import socket

import pytest

from swarmnode.cli import local


def test_a_pair_is_free_and_outside_the_ephemeral_range() -> None:
    low, high = local._ephemeral_range()
    for _ in range(50):
        port = local.free_port_pair()
        assert not low <= port <= high and not low <= port + 1 <= high, (port, low, high)
        assert local._bindable("127.0.0.1", port) and local._bindable("127.0.0.1", port + 1)


def test_no_port_is_handed_out_twice() -> None:
    given = [local.free_port_pair() for _ in range(200)] + [local.free_port() for _ in range(200)]
    taken = [p for p in given[:200] for p in (p, p + 1)] + given[200:]
    assert len(taken) == len(set(taken))


def test_a_bound_port_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        held = holder.getsockname()[1]
        monkeypatch.setattr(local, "_ephemeral_range", lambda: (0, 0))
        monkeypatch.setattr(local, "FIRST_PORT", held - 1)
        monkeypatch.setattr(local, "_handed_out", set())
        monkeypatch.setattr(local._random, "choice", lambda candidates: candidates[0])  # held - 1
        with pytest.raises(RuntimeError, match=r"^no 2 free consecutive port"):
            local.free_port_pair()  # held - 1 pairs with held: never free
        if local._bindable("127.0.0.1", held - 1):
            assert local.free_port() == held - 1  # alone, it is free


def test_the_range_is_read_from_the_kernel(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text("20000\t40000\n")
    monkeypatch.setattr(local, "EPHEMERAL_RANGE_FILE", path)
    assert local._ephemeral_range() == (20000, 40000)
    path.write_text("nonsense\n")
    assert local._ephemeral_range() == local.LINUX_EPHEMERAL_RANGE
