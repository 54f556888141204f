"""The Store core: all-or-nothing transactions, version checks, reads, events and snapshots."""

from __future__ import annotations

import dataclasses
from typing import Any

import hypothesis.strategies as st
import msgpack
import pytest
from hypothesis import given, settings

from swarmnode.actors.store import (
    KINDS,
    ApplyResult,
    Create,
    Delete,
    Event,
    IndexOrderError,
    Op,
    SnapshotFormatError,
    StoreCore,
    StoredObject,
    StoreError,
    Transaction,
    Update,
    Watchers,
    decode_transaction,
    encode_transaction,
)


def txn(*ops: Op, now: float = 100.0, txn_id: str = "t") -> Transaction:
    return Transaction(ops=ops, now=now, txn_id=txn_id)


def objects(core: StoreCore) -> list[StoredObject]:
    return [o for kind in KINDS for o in core.list(kind)]


@pytest.fixture
def core() -> StoreCore:
    store = StoreCore()
    result = store.apply(
        3,
        txn(
            Create("service", "web", {"image": "nginx", "replicas": 2}),
            Create("task", "abc", {"service": "web", "slot": 1}, {"state": "new"}),
            now=10.0,
        ),
    )
    assert result.ok, result.error
    return store


# ------------------------------------------------------------------------------- applying


def test_create_stamps_version_and_times_from_the_transaction(core: StoreCore) -> None:
    task = core.get("task", "abc")
    assert task == StoredObject("task", "abc", {"service": "web", "slot": 1}, {"state": "new"}, 3, 10.0, 10.0)
    assert core.last_index == 3
    assert core.count("task") == 1 and core.count("node") == 0


def test_update_replaces_only_what_it_names(core: StoreCore) -> None:
    result = core.apply(5, txn(Update("task", "abc", status={"state": "running"}, expected_version=3), now=12.5))
    assert result.ok and result.error is None
    task = core.get("task", "abc")
    assert task is not None
    assert task.spec == {"service": "web", "slot": 1}
    assert task.status == {"state": "running"}
    assert (task.version, task.created_at, task.updated_at) == (5, 10.0, 12.5)


def test_update_without_expected_version_is_unconditional(core: StoreCore) -> None:
    assert core.apply(4, txn(Update("service", "web", spec={"image": "nginx:2"}))).ok
    assert core.apply(5, txn(Update("service", "web", spec={"image": "nginx:3"}))).ok
    web = core.get("service", "web")
    assert web is not None and web.spec == {"image": "nginx:3"} and web.version == 5


def test_stale_update_is_refused_with_both_versions(core: StoreCore) -> None:
    assert core.apply(9, txn(Update("task", "abc", status={"state": "running"}))).ok
    before = objects(core)
    result = core.apply(10, txn(Update("task", "abc", spec={"slot": 2}, expected_version=7)))
    assert not result.ok
    assert result.error == (
        "update of task abc: expected version 7, found 9 (written by another change; read it again and retry)"
    )
    assert result.events == ()
    assert objects(core) == before
    assert core.last_index == 10  # the entry is consumed even though it changed nothing


def test_stale_delete_is_refused(core: StoreCore) -> None:
    result = core.apply(4, txn(Delete("task", "abc", expected_version=2)))
    assert not result.ok
    assert result.error is not None and "delete of task abc: expected version 2, found 3" in result.error
    assert core.get("task", "abc") is not None


def test_create_of_an_existing_id_is_refused(core: StoreCore) -> None:
    result = core.apply(4, txn(Create("task", "abc", {"x": 1})))
    assert not result.ok
    assert result.error == "create of task abc: it already exists (version 3); choose another id, or update it"


@pytest.mark.parametrize("op", [Update("node", "n9", spec={}), Delete("node", "n9")])
def test_write_of_a_missing_id_is_refused(core: StoreCore, op: Op) -> None:
    result = core.apply(4, txn(op))
    assert not result.ok
    name = "update" if isinstance(op, Update) else "delete"
    assert result.error == f"{name} of node n9: it does not exist (never created, or deleted by another change)"


def test_one_failing_op_refuses_the_whole_transaction(core: StoreCore) -> None:
    before = objects(core)
    result = core.apply(
        4,
        txn(
            Create("node", "n1", {"role": "worker"}),
            Update("service", "web", spec={"replicas": 5}),
            Delete("task", "abc"),
            Delete("task", "missing"),
        ),
    )
    assert not result.ok
    assert result.error is not None and "task missing" in result.error
    assert objects(core) == before


def test_ops_in_one_transaction_see_each_other(core: StoreCore) -> None:
    result = core.apply(
        7,
        txn(
            Create("node", "n1", {"role": "worker"}),
            Update("node", "n1", status={"state": "ready"}, expected_version=7),
            Delete("task", "abc", expected_version=3),
            Create("task", "abc", {"slot": 9}),
        ),
    )
    assert result.ok, result.error
    assert [(e.action, e.object.kind, e.object.id) for e in result.events] == [
        ("create", "node", "n1"),
        ("update", "node", "n1"),
        ("delete", "task", "abc"),
        ("create", "task", "abc"),
    ]
    node = core.get("node", "n1")
    assert node is not None and node.status == {"state": "ready"} and node.version == 7
    task = core.get("task", "abc")
    assert task is not None and task.spec == {"slot": 9} and task.created_at == 100.0


def test_events_carry_the_previous_object(core: StoreCore) -> None:
    old = core.get("task", "abc")
    update = core.apply(4, txn(Update("task", "abc", status={"state": "running"}))).events
    assert update[0].previous == old and update[0].object.status == {"state": "running"}
    running = core.get("task", "abc")
    delete = core.apply(5, txn(Delete("task", "abc"))).events
    assert delete == (Event(5, "delete", running, running),)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [0, 2, 3, -1])
def test_an_index_that_does_not_increase_is_a_bug(core: StoreCore, index: int) -> None:
    with pytest.raises(IndexOrderError, match=f"index {index} after index 3"):
        core.apply(index, txn(Create("node", "n1", {})))
    assert core.get("node", "n1") is None and core.last_index == 3


def test_indexes_may_skip(core: StoreCore) -> None:
    # Raft entries that are not Store transactions (leader no-ops, configuration) leave gaps.
    assert core.apply(100, txn(Create("node", "n1", {}))).ok
    assert core.last_index == 100


def test_returned_result_names_the_transaction(core: StoreCore) -> None:
    result = core.apply(4, txn(Delete("task", "abc"), txn_id="proposal-17"))
    assert result == ApplyResult(index=4, txn_id="proposal-17", ok=True, error=None, events=result.events)


def test_values_are_copied_in_so_the_proposer_cannot_change_the_store() -> None:
    spec: dict[str, Any] = {"ports": [80]}
    store = StoreCore()
    op = Create("service", "web", spec)
    spec["ports"].append(443)
    store.apply(1, txn(op))
    web = store.get("service", "web")
    assert web is not None and web.spec == {"ports": [80]}


# --------------------------------------------------------------------------------- reading


def test_list_is_sorted_by_id_and_filters() -> None:
    store = StoreCore()
    store.apply(1, txn(*(Create("task", f"t{i}", {"n": i}) for i in (3, 1, 2, 10))))
    assert [o.id for o in store.list("task")] == ["t1", "t10", "t2", "t3"]
    assert [o.id for o in store.list("task", lambda o: o.spec["n"] >= 3)] == ["t10", "t3"]
    assert store.list("node") == []


@pytest.mark.parametrize("read", ["get", "list", "count"])
def test_unknown_kind_is_refused_naming_the_kinds(core: StoreCore, read: str) -> None:
    args: tuple[Any, ...] = ("pods", "x") if read == "get" else ("pods",)
    with pytest.raises(
        StoreError, match="unknown object kind 'pods': the store holds cluster, network, node, service, task"
    ):
        getattr(core, read)(*args)


# ---------------------------------------------------------------------------------- ops


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: Create("pod", "x", {}), "unknown object kind 'pod'"),
        (lambda: Create("task", "", {}), "task id must be a non-empty string"),
        (lambda: Create("task", "x" * 257, {}), "at most 256 characters"),
        (lambda: Create("task", "x", [1]), "spec of task x must be a map, not list"),  # type: ignore[arg-type]
        (lambda: Create("task", "x", {1: 2}), "key"),  # type: ignore[dict-item]
        (lambda: Create("task", "x", {"a": {1, 2}}), "unsupported value of type set"),
        (lambda: Update("task", "x", expected_version=0), "expected_version must be a positive integer"),
        (lambda: Delete("task", "x", expected_version=True), "expected_version must be a positive integer"),
        (lambda: Transaction(ops=(), now=1.0, txn_id="t"), "at least one op"),
        (lambda: Transaction(ops=("x",), now=1.0, txn_id="t"), "op 0 of the transaction is a str"),  # type: ignore[arg-type]
        (lambda: Transaction(ops=(Delete("task", "x"),), now=float("nan"), txn_id="t"), "finite number"),
    ],
)
def test_invalid_ops_are_refused_when_built(make: Any, text: str) -> None:
    with pytest.raises(StoreError, match=text):
        make()


# ------------------------------------------------------------------------------- watchers


def test_watchers_route_events_by_kind_in_order() -> None:
    watchers = Watchers()
    watchers.register("scheduler", ["task", "node"])
    watchers.register("orchestrator", ["service"])
    watchers.register("everything")
    watchers.register("idle", ["network"])
    store = StoreCore()
    events = store.apply(
        1, txn(Create("task", "t1", {}), Create("service", "s", {}), Create("node", "n", {}), Create("task", "t2", {}))
    ).events
    routed = watchers.route(events)
    assert list(routed) == ["scheduler", "orchestrator", "everything"]
    assert [e.object.id for e in routed["scheduler"]] == ["t1", "n", "t2"]
    assert [e.object.id for e in routed["orchestrator"]] == ["s"]
    assert routed["everything"] == list(events)
    watchers.unregister("everything")
    watchers.unregister("everything")
    assert watchers.subscribers == ("scheduler", "orchestrator", "idle")


def test_watchers_keep_each_subscribers_target_until_it_unregisters() -> None:
    watchers: Watchers[str] = Watchers()
    watchers.register("scheduler", ["task"], target="scheduler-ref")
    watchers.register("orchestrator", target="orchestrator-ref")
    watchers.register("plain")
    assert watchers.target("scheduler") == "scheduler-ref"
    assert watchers.target("plain") is None
    assert watchers.targets() == ["scheduler-ref", "orchestrator-ref"]
    watchers.unregister("scheduler")
    assert watchers.target("scheduler") is None
    assert watchers.targets() == ["orchestrator-ref"]


def test_watchers_refuse_unknown_kinds_and_duplicates() -> None:
    watchers = Watchers()
    with pytest.raises(StoreError, match="unknown object kind 'tasks'"):
        watchers.register("w", ["tasks"])
    watchers.register("w")
    with pytest.raises(StoreError, match="already registered"):
        watchers.register("w", ["task"])


# ------------------------------------------------------------------------------ snapshots


def test_snapshot_round_trip(core: StoreCore) -> None:
    core.apply(8, txn(Create("cluster", "default", {"name": "c", "blob": b"\x00\xff", "f": 1.5, "n": None})))
    restored = StoreCore.restore(core.snapshot())
    assert objects(restored) == objects(core)
    assert restored.last_index == 8
    assert restored.snapshot() == core.snapshot()
    assert restored.apply(9, txn(Delete("task", "abc", expected_version=3))).ok


def _snapshot_body(core: StoreCore) -> dict[str, Any]:
    body: dict[str, Any] = msgpack.unpackb(core.snapshot())
    return body


@pytest.mark.parametrize(
    ("damage", "text"),
    [
        (lambda b: b"\xc1", "not a store snapshot"),
        (lambda b: msgpack.packb([1, 2]), "not a store snapshot: expected a map"),
        (lambda b: msgpack.packb({**b, "format": 2}), "format 2 is not supported .this node reads format 1"),
        (lambda b: msgpack.packb({**b, "last_index": -1}), "last_index must be an integer"),
        (lambda b: msgpack.packb({**b, "objects": [["pod", "x", {}, {}, 1, 1.0, 1.0]]}), "unknown object kind 'pod'"),
        (lambda b: msgpack.packb({**b, "objects": [["task", "x", {}, {}, 4, 1.0, 1.0]]}), "version must be an index"),
        (lambda b: msgpack.packb({**b, "objects": [["task", "x", [], {}, 1, 1.0, 1.0]]}), "spec must be a map"),
        (lambda b: msgpack.packb({**b, "objects": [["task", "x", {}, {}, 1, 1, 1.0]]}), "created_at must be a finite"),
        (lambda b: msgpack.packb({**b, "objects": [["task", "x", {}, {}, 1]]}), "must be .kind, id"),
        (lambda b: msgpack.packb({**b, "objects": [b["objects"][0]] * 2}), "appears twice"),
    ],
)
def test_restore_refuses_damaged_snapshots(core: StoreCore, damage: Any, text: str) -> None:
    with pytest.raises(SnapshotFormatError, match=text):
        StoreCore.restore(damage(_snapshot_body(core)))


# ------------------------------------------------------------------------------ properties

IDS = st.sampled_from(["a", "b", "c"])
SMALL_KINDS = st.sampled_from(["task", "node"])
PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
MAPS = st.dictionaries(st.text(max_size=3), PLAIN, max_size=3)
VERSIONS = st.none() | st.integers(1, 12)
OPS = st.one_of(
    st.builds(Create, SMALL_KINDS, IDS, MAPS, MAPS),
    st.builds(Update, SMALL_KINDS, IDS, st.none() | MAPS, st.none() | MAPS, VERSIONS),
    st.builds(Delete, SMALL_KINDS, IDS, VERSIONS),
)
TXNS = st.lists(
    st.builds(
        Transaction,
        st.lists(OPS, min_size=1, max_size=4).map(tuple),
        st.floats(0, 1e9),
        st.text(max_size=4),
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(TXNS)
def test_replicas_that_apply_the_same_log_agree(txns: list[Transaction]) -> None:
    leader, follower = StoreCore(), StoreCore()
    for index, t in enumerate(txns, start=1):
        # The follower reads the transaction from the log; the leader applies its own object.
        mine = leader.apply(index, t)
        theirs = follower.apply(index, decode_transaction(encode_transaction(t)))
        assert mine == theirs
    assert leader.snapshot() == follower.snapshot()
    assert objects(leader) == objects(follower)


@settings(max_examples=100, deadline=None)
@given(TXNS, st.integers(0, 12))
def test_a_restored_snapshot_continues_like_the_original(txns: list[Transaction], cut: int) -> None:
    original = StoreCore()
    for index, t in enumerate(txns[:cut], start=1):
        original.apply(index, t)
    restored = StoreCore.restore(original.snapshot())
    assert objects(restored) == objects(original) and restored.last_index == original.last_index
    for index, t in enumerate(txns[cut:], start=cut + 1):
        assert original.apply(index, t) == restored.apply(index, t)
    assert restored.snapshot() == original.snapshot()


@settings(max_examples=100, deadline=None)
@given(TXNS)
def test_events_replayed_in_order_rebuild_the_store_and_refusals_change_nothing(txns: list[Transaction]) -> None:
    store = StoreCore()
    watchers = Watchers()
    watchers.register("tasks", ["task"])
    model: dict[tuple[str, str], StoredObject] = {}
    routed_tasks: list[Event] = []
    all_events: list[Event] = []
    for index, t in enumerate(txns, start=1):
        before = objects(store)
        result = store.apply(index, t)
        if not result.ok:
            assert result.events == () and result.error
            assert objects(store) == before
            continue
        assert len(result.events) == len(t.ops)
        for event in result.events:
            assert event.index == index
            key = (event.object.kind, event.object.id)
            assert model.get(key) == event.previous
            if event.action == "delete":
                del model[key]
            else:
                assert event.object.version == index
                model[key] = event.object
        all_events.extend(result.events)
        routed_tasks.extend(watchers.route(result.events).get("tasks", []))
    assert sorted(model.values(), key=lambda o: (o.kind, o.id)) == sorted(objects(store), key=lambda o: (o.kind, o.id))
    assert routed_tasks == [e for e in all_events if e.object.kind == "task"]


def test_stored_object_is_frozen(core: StoreCore) -> None:
    task = core.get("task", "abc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.version = 9  # type: ignore[misc, union-attr]
