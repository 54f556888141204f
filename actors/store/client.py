"""How other actors of a manager use the Store: propose and read, with clear errors.

The Store lives in the RaftMember actor ("raft"): writes are Raft proposals (forwarded to the
leader when this manager is a follower) acknowledged once applied here; reads run on the
RaftMember's thread, so they see one committed state of this manager's Store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pykka

from swarmnode.actors.runtime import NodeContext, Refused
from swarmnode.actors.supervision import ActorCrashed

from .core import ApplyResult, StoreCore, StoredObject
from .transactions import Op, Update

__all__ = [
    "NOT_A_MANAGER",
    "STORE_ACTOR",
    "Change",
    "DiskFull",
    "disk_full",
    "is_raft_member",
    "propose",
    "raft_status",
    "read_store",
    "update_object",
]

T = TypeVar("T")
STORE_ACTOR = "raft"
STORE_CRASH_KEY = "store_crash"  # (monotonic time, reason) of the RaftMember's last crash
DISK_FULL_KEY = "store_disk_full"  # a DiskFull: what RaftMember says of a disk that filled
PEERS_OUT_KEY = "store_peers_out"  # node id -> why that manager, up, is out of Raft (its disk is full)
CRASH_TOLD_S = 60.0  # a store that is not running names a crash this recent as the likely cause
STORE_TIMEOUT_S = 10.0
# An operator's write made while no leader is known waits this long for one, as a linearizable
# read does (raft.actor.READ_INDEX_TIMEOUT_S); the actors' own writes fail at once.
LEADER_WAIT_S = 5.0
NOT_A_MANAGER = (
    "this node is not a swarm manager; worker nodes cannot be used to view or modify cluster state: "
    "run the command on a manager node"
)
Change = Callable[[StoredObject], tuple[dict[str, Any] | None, dict[str, Any] | None]]
UPDATE_ATTEMPTS = 5
STATUS_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class DiskFull:
    """What the Raft member says of its disk once a write met it full (DISK_FULL_KEY): for the
    control API, and for the member's next incarnation, which waits for room."""

    what: str  # the WAL's words
    where: str  # the directory that needs room
    waiting: bool = True  # out of Raft until there is room; False once it took part again
    room: int = 0  # the bytes it waits for (0: not worked out yet)
    crashes: int = 1  # disk-full crashes in a row, each soon after the one before
    at: float = 0.0  # monotonic time of the last

    def says(self) -> str:
        """One line for an operator: the WAL's words and the room waited for."""
        if not self.room:
            return self.what
        return f"{self.what}; it waits for {-(-self.room // (1 << 20))} MiB free in {self.where}"


def disk_full(context: NodeContext) -> str:
    """What this manager's Raft member says of its disk while it waits for room there, else ""."""
    record = context.get_shared(DISK_FULL_KEY)
    return record.says() if isinstance(record, DiskFull) and record.waiting else ""


def _store(context: NodeContext) -> pykka.ActorRef[Any]:
    ref = context.registry.get(STORE_ACTOR)
    if ref is None:
        if context.role != "manager":
            raise Refused("not-manager", NOT_A_MANAGER)
        raise _down(context, "the store of this manager is not running", "(it may be restarting)")
    return ref


def _down(context: NodeContext, what: str, otherwise: str = "") -> Refused:
    """The store is not there to answer: say why when it crashed lately (a full disk, say)."""
    crash = context.get_shared(STORE_CRASH_KEY)
    ago = time.monotonic() - crash[0] if crash is not None else math.inf
    if ago < CRASH_TOLD_S:
        return Refused("unavailable", f"{what}: it crashed {ago:.0f} s ago ({crash[1]}); try again")
    return Refused("unavailable", f"{what} {otherwise}; try again" if otherwise else f"{what}; try again")


def propose(
    context: NodeContext,
    *ops: Op,
    timeout_s: float = STORE_TIMEOUT_S,
    wait_for_leader_s: float = 0.0,
    leader_only: bool = False,
) -> ApplyResult:
    """Commit ``ops`` as one transaction; raise Refused("conflict") when the Store refused them.

    Without a leader known, it fails at once, or waits up to ``wait_for_leader_s`` for one (an
    operator's write: see raft.actor.Propose). ``leader_only``: the write of an actor that runs
    while this manager leads, refused ("not-leader") rather than sent to another leader.
    """
    from swarmnode.actors.raft.actor import Outcome, Propose

    outcome = Outcome()
    try:
        _store(context).tell(Propose(tuple(ops), outcome, wait_for_leader_s, leader_only))
        result = cast(ApplyResult, outcome.wait(timeout_s))
    except pykka.ActorDeadError:
        raise _down(context, "the store stopped before committing") from None
    except TimeoutError:
        raise Refused(
            "unavailable",
            f"the write was not answered within {timeout_s:g} s: it may or may not be committed (no quorum, "
            "or this manager is cut off from the leader); check before you retry",
        ) from None
    if not result.ok:
        raise Refused("conflict", result.error or "the change was refused")
    return result


def read_store(
    context: NodeContext,
    fn: Callable[[StoreCore], T],
    timeout_s: float = STORE_TIMEOUT_S,
    *,
    linearizable: bool = False,
) -> T:
    """Run ``fn`` on this manager's committed Store (on the store's thread) and return its result.

    ``linearizable``: only once the Store holds every write committed anywhere before the call
    (Raft read-index: the leader confirms its commit index with a quorum); refused without a
    leader. For what an operator asks; the actors' own reads take the Store as it is.
    """
    from swarmnode.actors.raft.actor import Outcome, Read, ReadOutcome

    with _answered(context, "the store", timeout_s):
        if linearizable:
            later = Outcome()
            _store(context).tell(Read(fn, later))  # answered through ``later`` once the leader confirms
            outcome = later.wait(timeout_s)
        else:
            outcome = _store(context).ask(Read(fn), timeout=timeout_s)
    return cast(T, cast(ReadOutcome, outcome).unwrap())


def raft_status(context: NodeContext, timeout_s: float = STATUS_TIMEOUT_S) -> Any:
    """This manager's Raft state now (a ``RaftStatus``): its view of the leader, members, progress."""
    from swarmnode.actors.raft.actor import GetRaftStatus

    with _answered(context, "the raft member", timeout_s):
        return _store(context).ask(GetRaftStatus(), timeout=timeout_s)


@contextmanager
def _answered(context: NodeContext, who: str, timeout_s: float) -> Iterator[None]:
    """Turn what an ask of the Raft member (``who``) may raise into what its caller is told."""
    try:
        yield
    except pykka.ActorDeadError:
        raise _down(context, f"{who} stopped before answering") from None
    except ActorCrashed as exc:  # a full disk, say: the asker is not at fault, and must not crash too
        raise Refused("unavailable", f"{who} crashed before answering ({exc.reason}); try again") from None
    except (pykka.Timeout, TimeoutError):
        raise Refused("unavailable", f"{who} did not answer within {timeout_s:g} s") from None


def is_raft_member(context: NodeContext, node_id: str) -> bool:
    """Is ``node_id`` a Raft member here, in the membership in effect or in the committed one?

    A demoted manager stays one until its removal has committed: until then it must keep a
    manager's certificate (and its Raft data).
    """
    return bool(raft_status(context).is_member(node_id))


def update_object(
    context: NodeContext,
    kind: str,
    object_id: str,
    change: Change,
    *,
    wait_for_leader_s: float = 0.0,
    leader_only: bool = False,
) -> ApplyResult:
    """Read an object, compute its new ``(spec, status)`` with ``change``, write it if nobody wrote it since.

    Another actor may write the same object between the read and the write; then the version
    check refuses the write and the change is computed again from the newer object (a refusal
    forwarded by the leader is answered once this manager's Store applied it: the next read has
    the newer version).
    """
    for _ in range(UPDATE_ATTEMPTS):
        obj = read_store(context, lambda core: core.get(kind, object_id))
        if obj is None:
            raise Refused("not-found", f"no {kind} {object_id!r}")
        spec, status = change(obj)
        try:
            update = Update(kind, object_id, spec=spec, status=status, expected_version=obj.version)
            return propose(context, update, wait_for_leader_s=wait_for_leader_s, leader_only=leader_only)
        except Refused as exc:
            if exc.code != "conflict":
                raise
    raise Refused("conflict", f"{kind} {object_id} kept changing; gave up after {UPDATE_ATTEMPTS} attempts")
