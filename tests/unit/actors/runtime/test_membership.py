"""Admission by certificate: members by role, removed and expired nodes refused, strangers may only join."""

from __future__ import annotations

import logging

from swarmnode.actors.node.swarm_state import ManagerRecord
from swarmnode.actors.runtime.membership import CertAdmission, Member, Membership, Refusal
from swarmnode.actors.worker.actor import worker_membership
from swarmnode.transport import Identity

KEY_A = b"A" * 40
KEY_B = b"B" * 40
KEY_X = b"X" * 40


def admission(table: Membership, now: float = 1000.0) -> CertAdmission:
    return CertAdmission(lambda: table, clock=lambda: now)


def test_members_are_admitted_with_their_id_and_role():
    table = Membership(by_key={KEY_A: Member("a", "worker", 2000.0)})
    assert admission(table)(KEY_A, "10.0.0.1") == Identity("a", "worker")


def test_an_expired_certificate_is_refused_and_logged(caplog):
    table = Membership(by_key={KEY_A: Member("a", "worker", 999.0)})
    assert admission(table)(KEY_A, "10.0.0.1") is None
    assert "the certificate of node a expired at" in caplog.text


def test_a_removed_node_is_admitted_only_to_be_told_it_was_removed(caplog):
    """Not as the stranger it now is: refused at the handshake, it could never learn why."""
    caplog.set_level(logging.INFO, "swarmnode.admission")
    table = Membership(revoked={"b": KEY_B}, anonymous_allowed=True)
    identity = admission(table)(KEY_B, "10.0.0.2")
    assert identity == Identity("b", "removed")
    assert table.refusal(identity, now=0.0) == Refusal("removed", "node b was removed from the swarm")
    assert "10.0.0.2: node b was removed from the swarm; its messages are answered so" in caplog.text


def test_a_removed_node_still_in_the_table_is_told_it_was_removed(caplog):
    caplog.set_level(logging.INFO, "swarmnode.admission")
    table = Membership(by_key={KEY_A: Member("a", "worker", 2000.0)}, revoked={"a": KEY_A})
    assert admission(table)(KEY_A, "10.0.0.1") == Identity("a", "removed")
    assert "10.0.0.1: node a was removed from the swarm" in caplog.text


def test_strangers_are_anonymous_on_managers_and_refused_on_workers(caplog):
    assert admission(Membership(anonymous_allowed=True))(KEY_X, "h") == Identity(KEY_X.decode(), "anonymous")
    assert admission(Membership(anonymous_allowed=False))(KEY_X, "h") is None
    assert "belongs to no node this one knows yet" in caplog.text


def test_connected_peers_are_judged_again_per_message():
    table = Membership(by_key={KEY_A: Member("a", "worker", 500.0)}, revoked={"b": KEY_B})
    assert table.refusal(Identity("b", "worker"), now=0.0) == Refusal("removed", "node b was removed from the swarm")
    expired = table.refusal(Identity("a", "worker"), now=600.0)
    assert expired is not None and expired.code == "forbidden" and "the certificate of node a expired" in expired.text
    assert table.refusal(Identity("a", "worker"), now=400.0) is None
    assert table.refusal(Identity("x", "local"), now=600.0) is None


def test_a_worker_says_it_takes_managers_only(caplog):
    """A worker's key dialling a demoted manager is not called a stranger to the swarm."""
    table = worker_membership([ManagerRecord("m", "127.0.0.1:2377", KEY_A.decode())])
    assert admission(table)(KEY_A, "h") == Identity("m", "manager")
    assert admission(table)(KEY_X, "h") is None
    assert "is none of the managers this worker knows (a worker takes connections from managers only" in caplog.text
