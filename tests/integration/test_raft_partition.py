"""A manager cut off from the other two by a real network partition cannot commit; the majority goes on.

Each manager runs in a network namespace of its own, on one bridge; the partition is an nftables
table on that bridge (tests/support/netns.py). Unlike SIGSTOP (test_raft_cluster), the cut-off
manager keeps running: it takes writes, times out, campaigns, and must still neither commit nor
disturb the majority, then catch up once the table is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from swarmnode.actors.raft.actor import READ_INDEX_TIMEOUT_S
from swarmnode.actors.store.client import STORE_TIMEOUT_S
from swarmnode.transport import RemoteError
from tests.support import wait_until
from tests.support.netns import NetLab, in_hosts, network_lab
from tests.support.nodes import Managers, NodeProcess
from tests.support.writers import MINORITY_REFUSALS, labels_on, write_label

ELECTION_TIMEOUT_S = 10.0
CATCH_UP_TIMEOUT_S = 15.0


@pytest.fixture
def lab() -> Iterator[NetLab]:
    with network_lab("test_raft_partition", 3) as lab:
        yield lab


@pytest.fixture
def managers(lab: NetLab, nodes: Callable[..., NodeProcess]) -> Managers:
    """Three managers, the n-th made in the lab's n-th host.

    ``lab`` comes before ``nodes``: it is removed after the nodes are stopped.
    """
    return Managers(in_hosts(nodes, lab.hosts), 3)


def one_agreed_leader(managers: Managers) -> str:
    """The leader's id when every manager names the same one and only it says it leads, else ''."""
    statuses = [managers.cluster_status(node) for node in managers.all]
    if any(status is None for status in statuses):
        return ""
    named = {status.leader for status in statuses}
    claims = [status for status in statuses if status.leader == status.node_id]
    return named.pop() if len(named) == 1 and len(claims) == 1 else ""


def test_a_manager_cut_off_by_nftables_cannot_commit_and_catches_up_after_the_heal(lab, managers):
    old = managers.wait_leader()
    old_id = old.node_id
    majority = [node for node in managers.all if node is not old]
    write_label(old, "before")
    for node in managers.all:
        wait_until(lambda n=node: labels_on(n, old_id).get("before") == "v", 10, f"'before' on {node.state_dir.name}")

    assert old.netns is not None
    lab.cut(old.netns)
    # (a) The cut-off leader appends the write to its log, but no majority can acknowledge it.
    with pytest.raises(RemoteError) as refused:
        write_label(old, "minority", timeout_s=STORE_TIMEOUT_S + 5)
    assert any(text in refused.value.text for text in MINORITY_REFUSALS), f"unexpected refusal: {refused.value}"

    # (b) The majority elects a leader of its own and commits, through it and through its follower.
    new = wait_until(lambda: managers.leader_node(majority), ELECTION_TIMEOUT_S, "the majority to elect a leader")
    for node in majority:
        write_label(node, "majority")
    for node in majority:
        assert labels_on(node, old_id).get("minority") is None, f"the minority's write is on {node.state_dir.name}"
        for writer in majority:
            assert labels_on(node, writer.node_id).get("majority") == "v"

    # Check-quorum: the cut-off leader steps down once an election timeout passes without a
    # majority's answers, rather than lead alone (and take writes it can never commit).
    def stepped_down() -> bool:
        status = managers.cluster_status(old)
        return status is not None and status.leader != old_id

    wait_until(stepped_down, ELECTION_TIMEOUT_S, "the cut-off leader to step down")
    # (c) Cut off, the old leader has no leader to confirm a read with: it refuses to answer
    # rather than answer what may be stale (its store has not got the majority's write).
    with pytest.raises(RemoteError) as unread:
        labels_on(old, new.node_id, timeout_s=READ_INDEX_TIMEOUT_S + 5)
    assert unread.value.code == "unavailable", f"unexpected refusal: {unread.value}"

    lab.heal()
    wait_until(
        lambda: all(labels_on(old, writer.node_id).get("majority") == "v" for writer in majority),
        CATCH_UP_TIMEOUT_S,
        "the cut-off manager to catch up with the majority's writes",
    )
    # Which manager leads now is not fixed: once caught up, the old leader may win a later election.
    wait_until(lambda: one_agreed_leader(managers), ELECTION_TIMEOUT_S, "one leader all three agree on")
    # Its uncommitted entry was replaced by the new leader's log: no store holds it.
    for node in managers.all:
        assert labels_on(node, old_id).get("minority") is None, f"the minority's write is on {node.state_dir.name}"
