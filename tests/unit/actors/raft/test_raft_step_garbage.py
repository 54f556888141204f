"""step() takes anything the network may bring and never raises (5.1: stale or odd messages are ignored)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmnode.actors.raft import (
    MSG_APP,
    ConfState,
    HardState,
    RaftConfig,
    RaftCore,
    RaftEntry,
    RaftMessage,
    RaftSnapshot,
    Restored,
    SnapshotMeta,
)
from tests.unit.actors.raft.raft_net import Net, entries

IDS = ("a", "b", "c")
TYPES = (
    "vote",
    "vote_resp",
    "pre_vote",
    "pre_vote_resp",
    "app",
    "app_resp",
    "heartbeat",
    "heartbeat_resp",
    "snap",
    "timeout_now",
    "read_index",
    "read_index_resp",
    "transfer_leader",
    "bogus",
    "",
)
small = st.integers(min_value=-3, max_value=24)
terms = st.integers(min_value=-1, max_value=6)
names = st.sampled_from((*IDS, "", "zz"))
conf_states = st.builds(
    ConfState,
    voters=st.lists(names, max_size=4).map(tuple),
    learners=st.lists(names, max_size=2).map(tuple),
)
snapshots = st.none() | st.builds(
    RaftSnapshot, meta=st.builds(SnapshotMeta, index=small, term=terms, conf=conf_states), data=st.binary(max_size=4)
)
random_entries = st.lists(
    st.builds(RaftEntry, index=small, term=terms, kind=st.integers(-1, 2), data=st.binary(max_size=4)), max_size=5
).map(tuple)


@st.composite
def messages(draw: st.DrawFn, to: str) -> RaftMessage:
    mtype = draw(st.sampled_from(TYPES))
    term = draw(terms)
    index = draw(small)
    log_term = draw(terms)
    if draw(st.booleans()):
        # A well-formed run of entries after (index, log_term): reaches the deeper append paths.
        n = draw(st.integers(0, 4))
        low = max(log_term, 0)
        ts = sorted(draw(st.lists(st.integers(low, max(term, low)), min_size=n, max_size=n)))
        ents = tuple(RaftEntry(index + 1 + i, t, 0, b"") for i, t in enumerate(ts))
    else:
        ents = draw(random_entries)
    return RaftMessage(
        type=mtype,
        to=draw(st.sampled_from((to, to, to, "zz"))),
        frm=draw(names),
        term=term,
        log_term=log_term,
        index=index,
        entries=ents,
        commit=draw(small),
        reject=draw(st.booleans()),
        reject_hint=draw(small),
        snapshot=draw(snapshots),
        context=draw(st.sampled_from((b"", b"transfer", b"r1", b"\x00"))),
    )


def cores() -> list[RaftCore]:
    """Cores in every role, with logs, progress and pending reads."""
    follower = RaftCore(
        RaftConfig("a"), Restored(HardState(2, "b", 2), None, entries(1, 1, 2, 2), ConfState(IDS, ())), random.Random(0)
    )
    net = Net("a", "b", "c", learners=("c",))
    net.elect("a")
    net.propose("a", b"x")
    leader = net.core("a")
    leader.read_index(b"r1")
    leader.transfer_leadership("b")
    pre_candidate = RaftCore(RaftConfig("a"), Restored(None, None, (), ConfState(IDS, ())), random.Random(1))
    pre_candidate.campaign()
    candidate = RaftCore(
        RaftConfig("a", pre_vote=False), Restored(None, None, (), ConfState(IDS, ())), random.Random(2)
    )
    candidate.campaign()
    snapshotted = RaftCore(
        RaftConfig("a"),
        Restored(
            HardState(3, "", 6), SnapshotMeta(4, 2, ConfState(IDS, ())), entries(3, 3, start=5), ConfState(IDS, ())
        ),
        random.Random(3),
    )
    return [follower, leader, pre_candidate, candidate, snapshotted]


def check_invariants(core: RaftCore) -> None:
    log = core.log
    assert log.applied <= log.committed <= log.last_index
    assert log.snap_index <= log.applied or log.pending_snapshot is not None  # applied once advanced
    assert log.snap_index <= log.stable <= log.last_index
    assert all(e.index == log.snap_index + 1 + i for i, e in enumerate(log.entries))
    assert all(a.term <= b.term for a, b in zip(log.entries, log.entries[1:], strict=False))
    assert not log.entries or log.entries[0].term >= log.snap_term


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_step_never_raises_on_any_message(data: st.DataObject) -> None:
    """5.1: whatever arrives (stale terms, unknown types, strangers, malformed entries), step() does not raise."""
    for core in cores():
        for msg in data.draw(st.lists(messages(core.id), max_size=12)):
            core.step(msg)
            check_invariants(core)
            if data.draw(st.booleans()):
                core.tick()
            if core.has_ready():
                core.advance(core.ready())
            check_invariants(core)
        core.status()


def test_a_malformed_append_is_ignored():
    """5.3: entries that do not follow the append's previous index, or go back in term, are not a leader's."""
    core = RaftCore(
        RaftConfig("a"), Restored(HardState(2, "", 0), None, entries(1, 2), ConfState(IDS, ())), random.Random(0)
    )
    gap = RaftMessage(MSG_APP, "a", "b", 2, log_term=2, index=2, entries=entries(2, start=4))
    backwards = RaftMessage(MSG_APP, "a", "b", 2, log_term=2, index=2, entries=entries(1, start=3))
    for m in (gap, backwards):
        core.step(m)
        assert core.log.last_index == 2
