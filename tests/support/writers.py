"""Keep writing to a swarm in a thread and remember what was acknowledged: the load of failover tests.

Each write adds a label ``k<n>=v`` to one node (a Raft commit through the leader), so that what
was acknowledged can be checked on every manager afterwards with ``labels_on``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from swarmnode.actors.control.messages import NodeInspectRequest, NodeUpdateRequest
from swarmnode.transport import ControlClient, TransportError

from .nodes import NodeProcess

JOIN_TIMEOUT_S = 15.0
# What a leader without a quorum answers a write (RemoteError.text contains one of these).
MINORITY_REFUSALS = (
    "leadership changed before the write committed",  # it stepped down (check-quorum) with the write pending
    "may or may not be committed",  # the store's deadline came first
)


def add_label(node_ref: str, key: str) -> NodeUpdateRequest:
    """The write of these tests: label ``key=v`` on the node ``node_ref`` (its id, or "self")."""
    return NodeUpdateRequest(node=node_ref, availability="", label_add={key: "v"}, label_rm=())


def write_label(node: NodeProcess, key: str, timeout_s: float = 5.0) -> None:
    """Label ``node`` itself ``key=v`` through its control socket; raise if it is not acknowledged."""
    node.request("control", add_label("self", key), timeout_s=timeout_s)


def labels_on(node: NodeProcess, node_ref: str, timeout_s: float = 5.0) -> dict[str, str]:
    """The labels of node ``node_ref`` in ``node``'s own Store."""
    reply = node.request("control", NodeInspectRequest(node=node_ref), timeout_s)
    labels: dict[str, str] = reply.node["spec"]["labels"]
    return labels


class LabelWriter:
    """Write labels on node ``target``, one at a time, in a thread, until stopped.

    ``through`` names the node to write through; it is asked before every write, so that a writer
    can be moved off a node that is about to be killed (the leader, in a chaos run). A failed write
    is not counted (a failover may be under way, or the node died) and the writer goes on; each
    acknowledged key is kept with the monotonic times of its request and of its answer. Use it as a context manager:
    leaving the block stops the thread and waits for it.
    """

    def __init__(self, through: Callable[[], NodeProcess], target: str, *, timeout_s: float = 3.0) -> None:
        self._through = through
        self._target = target
        self._timeout_s = timeout_s
        self._acks: list[tuple[str, float, float]] = []  # (key, asked at, answered at)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"label writer on {target}", daemon=True)

    @property
    def acknowledged(self) -> list[str]:
        """The keys acknowledged so far, in order."""
        return [key for key, _, _ in list(self._acks)]

    def first_acknowledged_after(self, instant: float) -> float | None:
        """When the first write asked after ``instant`` (time.monotonic) was answered, if one was.

        A write asked before may have committed before ``instant`` and been answered after it:
        its answer says nothing of what happened at ``instant`` (a leader's death, say).
        """
        return next((answered for _, asked, answered in list(self._acks) if asked > instant), None)

    def __enter__(self) -> LabelWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._halt.set()
        self._thread.join(JOIN_TIMEOUT_S)

    def _run(self) -> None:
        n = 0
        client: ControlClient | None = None
        client_node: NodeProcess | None = None
        try:
            while not self._halt.is_set():
                node = self._through()
                key = f"k{n}"
                n += 1  # a key per attempt: a failed write may still have been committed
                asked = time.monotonic()
                try:
                    if client is None or node is not client_node:
                        if client is not None:
                            client.close()
                            client = None
                        client = ControlClient(str(node.control_path), timeout_s=self._timeout_s)
                        client_node = node
                    client.request("control", add_label(self._target, key))
                except TransportError:
                    continue  # not acknowledged (no answer, or an error such as "leadership changed"): not counted
                self._acks.append((key, asked, time.monotonic()))
        finally:
            if client is not None:
                client.close()
