"""ReplyFacts: a node event makes the managers be listed again; the digests follow the cluster view."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from swarmnode.actors.ca.core import trust_digest
from swarmnode.actors.ca.messages import ManagerInfo
from swarmnode.actors.ca.pki import ca_digest
from swarmnode.actors.dispatcher import core
from swarmnode.actors.dispatcher.core import ReplyFacts
from swarmnode.actors.store.core import Action, Event, StoredObject
from swarmnode.actors.store.objects import CLUSTER_ID, ClusterView
from tests.support.clusters import cluster_with_new_root

NOW = datetime(2025, 1, 1, tzinfo=UTC)
MANAGERS = (ManagerInfo(node_id="m1", addr="10.0.0.1:4242", curve_key="k1"),)


def stored(kind: str, obj_id: str, spec: dict[str, object], status: dict[str, object], index: int) -> StoredObject:
    return StoredObject(kind, obj_id, spec, status, version=index, created_at=0.0, updated_at=0.0)


def node_event(action: Action, index: int = 7) -> Event:
    node = stored("node", "w1", {"role": "worker"}, {"addr": "10.0.0.2:4242"}, index)
    return Event(index, action, node, previous=None if action == "create" else node)


def cluster_event(index: int) -> Event:
    """An update of the cluster object to a root (and trust bundle) of its own, as a rotation writes."""
    view = cluster_with_new_root("c1", NOW)
    return Event(index, "update", stored("cluster", CLUSTER_ID, view.spec(), view.status(), index), previous=None)


@pytest.mark.parametrize("action", ["create", "update", "delete"])
def test_a_node_event_drops_the_managers(action: Action) -> None:
    facts = ReplyFacts()
    assert facts.managers() is None, "nothing is listed before the first beat"
    facts.keep_managers(MANAGERS)
    assert facts.managers() == MANAGERS
    facts.follow(node_event(action))
    assert facts.managers() is None, f"a node {action} left the old managers list in place"


def test_a_cluster_event_keeps_the_managers() -> None:
    facts = ReplyFacts()
    facts.keep_managers(MANAGERS)
    facts.follow(cluster_event(index=8))
    assert facts.managers() == MANAGERS


def test_a_cluster_events_new_view_gets_its_own_digests() -> None:
    facts = ReplyFacts()
    old = ClusterView.of(cluster_event(index=3).object)
    assert facts.trust_digest(old) == trust_digest(old.trust_pem)
    assert facts.root_digest(old) == ca_digest(old.root_cert)

    event = cluster_event(index=9)
    facts.follow(event)
    new = ClusterView.of(event.object)  # what the Dispatcher keeps from the event
    assert facts.trust_digest(new) == trust_digest(new.trust_pem) != trust_digest(old.trust_pem)
    assert facts.root_digest(new) == ca_digest(new.root_cert) != ca_digest(old.root_cert)


def test_the_same_view_is_hashed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()

    def counted(name: str, digest: Callable[[bytes], str]) -> Callable[[bytes], str]:
        def real_digest(data: bytes) -> str:
            calls[name] += 1
            return digest(data)

        return real_digest

    # The real digests run; the count shows which beats paid for them.
    monkeypatch.setattr(core, "trust_digest", counted("trust", core.trust_digest))
    monkeypatch.setattr(core, "ca_digest", counted("root", core.ca_digest))
    facts = ReplyFacts()
    view = ClusterView.of(cluster_event(index=3).object)
    for _ in range(3):  # three beats against one cluster view
        assert facts.trust_digest(view) == trust_digest(view.trust_pem)
        assert facts.root_digest(view) == ca_digest(view.root_cert)
    assert calls == {"trust": 1, "root": 1}

    rotated = ClusterView.of(cluster_event(index=9).object)
    facts.trust_digest(rotated)
    facts.root_digest(rotated)
    assert calls == {"trust": 2, "root": 2}, "the next cluster view is hashed once too"
