"""membership_of: a manager's admission table, before and after its Store is read."""

from __future__ import annotations

import math
from types import SimpleNamespace

from swarmnode.actors.raft.actor import membership_of
from swarmnode.actors.runtime import Member
from swarmnode.actors.store.core import StoreCore


def test_before_the_store_is_read_the_managers_of_the_join_reply_are_admitted():
    known = [SimpleNamespace(node_id="m1", curve_key="k1"), SimpleNamespace(node_id="m2", curve_key="")]
    membership = membership_of(None, known)
    assert membership.by_key == {b"k1": Member("m1", "manager", math.inf)}  # m2 has no key to admit by
    assert membership.revoked == {}
    assert membership_of(StoreCore(), known).by_key == membership.by_key  # an empty Store adds nothing
