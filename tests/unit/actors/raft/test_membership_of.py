"""membership_of: a manager's admission table, before and after its Store is read."""

from __future__ import annotations

import math
from types import SimpleNamespace

from swarmnode.actors.raft.actor import membership_of
from swarmnode.actors.runtime import Member
from swarmnode.actors.store.core import StoreCore
from swarmnode.actors.store.objects import NodeView
from swarmnode.actors.store.transactions import Create, Transaction


def test_before_the_store_is_read_the_managers_of_the_join_reply_are_admitted():
    known = [SimpleNamespace(node_id="m1", curve_key="k1"), SimpleNamespace(node_id="m2", curve_key="")]
    membership = membership_of(None, known)
    assert membership.by_key == {b"k1": Member("m1", "manager", math.inf)}  # m2 has no key to admit by
    assert membership.revoked == {}
    assert membership_of(StoreCore(), known).by_key == membership.by_key  # an empty Store adds nothing


def test_a_manager_raft_vouches_for_is_admitted_as_one_where_a_stale_store_says_worker():
    """A snapshot from before the leader's promotion names it a worker: its Raft messages must still pass."""
    store = StoreCore()
    node = NodeView(
        node_id="m1",
        role="worker",
        availability="active",
        labels={},
        state="ready",
        hostname="h",
        addr="127.0.0.1:1",
        certificate=b"",
        cert_role="worker",
        cert_expiry=123.0,
        curve_key="k1",
        issuer="",
    )
    store.apply(1, Transaction(ops=(Create("node", "m1", node.spec(), node.status()),), now=0.0, txn_id="t1"))
    assert membership_of(store).by_key == {b"k1": Member("m1", "worker", 123.0)}
    known = [SimpleNamespace(node_id="m1", curve_key="k1")]
    assert membership_of(store, known, vouched={"m1"}).by_key == {b"k1": Member("m1", "manager", 123.0)}
    # Named a manager by a stale list only (a demoted one), with no Raft to vouch: its certificate's role.
    assert membership_of(store, known, vouched={"m2"}).by_key == {b"k1": Member("m1", "worker", 123.0)}
