"""The ports handed to local clusters: free, and out of the way of outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from swarmnode.cli import local


@pytest.fixture(autouse=True)
def handed_out(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The ports handed out here, apart from those of the rest of the session."""
    ports: set[int] = set()
    monkeypatch.setattr(local, "_handed_out", ports)
    return ports


def test_a_pair_is_free_and_outside_the_ephemeral_range() -> None:
    low, high = local._ephemeral_range()
    for _ in range(50):
        port = local.free_port_pair()
        assert not low <= port <= high and not low <= port + 1 <= high, (port, low, high)
        assert local._bindable("127.0.0.1", port) and local._bindable("127.0.0.1", port + 1)


def test_a_pair_never_reaches_into_the_ephemeral_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_ephemeral_range", lambda: (32768, 60999))
    monkeypatch.setattr(local, "_bindable", lambda host, port: True)  # which port is chosen, whatever this host holds
    seen: list[int] = []

    def highest_below(candidates: list[int]) -> int:
        seen.extend(candidates)
        return max(p for p in candidates if p < 32768)

    assert local._free_ports("127.0.0.1", 2, highest_below) == 32766  # 32767 would pair with 32768
    assert 32767 not in seen and 65534 in seen  # the last pair, 65534 and 65535, is one


def test_no_port_is_handed_out_twice(handed_out: set[int]) -> None:
    given = [local.free_port_pair() for _ in range(200)] + [local.free_port() for _ in range(200)]
    taken = [p for p in given[:200] for p in (p, p + 1)] + given[200:]
    assert len(taken) == len(set(taken)) == len(handed_out)


def test_a_bound_port_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        held = holder.getsockname()[1]
        monkeypatch.setattr(local, "_ephemeral_range", lambda: (0, 0))
        with pytest.raises(RuntimeError, match=r"^no 2 free consecutive port"):
            local._free_ports("127.0.0.1", 2, lambda candidates: held - 1)  # held - 1 pairs with held
        with pytest.raises(RuntimeError, match=r"^no 1 free consecutive port"):
            local._free_ports("127.0.0.1", 1, lambda candidates: held)


def test_the_range_is_read_from_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text("20000\t40000\n")
    monkeypatch.setattr(local, "EPHEMERAL_RANGE_FILE", path)
    assert local._ephemeral_range() == (20000, 40000)
    path.write_text("nonsense\n")
    assert local._ephemeral_range() == local.UNKNOWN_EPHEMERAL_RANGE
