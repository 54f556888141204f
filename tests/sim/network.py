"""Carry Raft messages between simulated nodes: delay, drop, duplicate, reorder, partition.

The network lives in one thread and takes all of its randomness from the simulation's one
``random.Random``, so a seed replays the same deliveries in the same order. Time is the
simulation's tick count: a message sent at tick ``t`` with delay ``d`` becomes deliverable at
tick ``t + d``, and the simulation picks which deliverable message goes next (in any order when
``reorder`` is on, else the oldest first), as etcd-io/raft's rafttest network does.

A partition is checked twice, when a message is sent and when it is delivered, so that cutting
the network also loses what was already on the wire, like a TCP connection torn down.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from swarmnode.actors.raft import RaftMessage

__all__ = ["Faults", "Network", "NetworkStats"]


@dataclass(slots=True)
class Faults:
    """What the network does to every message it accepts."""

    drop: float = 0.0  # probability that a message is lost
    duplicate: float = 0.0  # probability that a message arrives twice
    max_delay_ticks: int = 2  # each copy is delayed a uniform 0..max_delay_ticks ticks
    reorder: bool = True  # deliver deliverable messages in random order, else oldest first


@dataclass(slots=True)
class NetworkStats:
    """Counts of what happened to messages, for the trace and the docs."""

    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    cut: int = 0
    duplicated: int = 0


@dataclass(order=True, slots=True)
class _InFlight:
    due_tick: int
    seq: int
    msg: RaftMessage = field(compare=False)


class Network:
    """An in-memory network between node ids, with faults and partitions."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.faults = Faults()
        self.stats = NetworkStats()
        self._queue: list[_InFlight] = []
        self._seq = 0
        self._group: dict[str, int] = {}  # node id -> partition group; absent means group 0
        self._cut_links: set[tuple[str, str]] = set()  # one-way (frm, to) links that lose everything

    # -- partitions ---------------------------------------------------------------------------

    def connected(self, frm: str, to: str) -> bool:
        """Say whether a message from ``frm`` can reach ``to`` now."""
        return self._group.get(frm, 0) == self._group.get(to, 0) and (frm, to) not in self._cut_links

    def partition(self, groups: list[list[str]]) -> None:
        """Split the nodes into groups that cannot talk to each other (group 0 is the first)."""
        self._group = {node: i for i, group in enumerate(groups) for node in group}

    def isolate(self, node: str) -> None:
        """Cut ``node`` off from every other node."""
        self._group[node] = 1 + max(self._group.values(), default=0)

    def cut(self, a: str, b: str, *, both_ways: bool = True) -> None:
        """Lose every message from ``a`` to ``b`` (and back, unless ``both_ways`` is false)."""
        self._cut_links.add((a, b))
        if both_ways:
            self._cut_links.add((b, a))

    def join(self, node: str, like: str) -> None:
        """Put ``node`` in the same partition group as ``like`` (a node that just started)."""
        self._group[node] = self._group.get(like, 0)

    def heal(self) -> None:
        """Undo every partition and cut link."""
        self._group.clear()
        self._cut_links.clear()

    def is_partitioned(self) -> bool:
        """Say whether any partition or cut link is in force."""
        return bool(self._cut_links) or any(g != 0 for g in self._group.values())

    def describe(self) -> str:
        """Return the partition as text for the trace."""
        groups: dict[int, list[str]] = {}
        for node, g in sorted(self._group.items()):
            groups.setdefault(g, []).append(node)
        parts = ["|".join(",".join(g) for _, g in sorted(groups.items()))]
        if self._cut_links:
            parts.append("cut " + " ".join(f"{a}>{b}" for a, b in sorted(self._cut_links)))
        return " ".join(parts)

    # -- traffic ------------------------------------------------------------------------------

    def send(self, msg: RaftMessage, now_tick: int) -> str:
        """Accept ``msg`` for delivery; it may be lost, duplicated or delayed.

        Return what happened, for the trace: "cut", "dropped", "sent" or "sent twice".
        """
        self.stats.sent += 1
        if not self.connected(msg.frm, msg.to):
            self.stats.cut += 1
            return "cut"
        faults = self.faults
        if faults.drop and self._rng.random() < faults.drop:
            self.stats.dropped += 1
            return "dropped"
        copies = 1
        if faults.duplicate and self._rng.random() < faults.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            delay = self._rng.randint(0, faults.max_delay_ticks) if faults.max_delay_ticks > 0 else 0
            self._seq += 1
            self._queue.append(_InFlight(now_tick + delay, self._seq, msg))
        return "sent" if copies == 1 else "sent twice"

    def has_due(self, now_tick: int) -> bool:
        """Say whether some message can be delivered at ``now_tick``."""
        return any(f.due_tick <= now_tick for f in self._queue)

    def in_flight(self) -> int:
        """Return how many messages are on the wire."""
        return len(self._queue)

    def pop_due(self, now_tick: int) -> tuple[RaftMessage, bool] | None:
        """Take one deliverable message: ``(msg, True)`` to deliver, ``(msg, False)`` if cut.

        Return None when nothing is deliverable yet.
        """
        due = [i for i, f in enumerate(self._queue) if f.due_tick <= now_tick]
        if not due:
            return None
        if self.faults.reorder:
            pick = due[self._rng.randrange(len(due))]
        else:
            pick = min(due, key=lambda i: (self._queue[i].due_tick, self._queue[i].seq))
        msg = self._queue.pop(pick).msg
        if not self.connected(msg.frm, msg.to):
            self.stats.cut += 1
            return msg, False
        self.stats.delivered += 1
        return msg, True

    def clear(self) -> None:
        """Lose every message on the wire."""
        self.stats.dropped += len(self._queue)
        self._queue.clear()
