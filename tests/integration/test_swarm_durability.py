"""A manager killed -9 in the middle of writes keeps every write it acknowledged."""

from __future__ import annotations

import os
import random
import threading

import pytest

from swarmnode.actors.control.messages import NodeInspectRequest, NodeUpdateRequest
from swarmnode.transport import ControlClient, RemoteError, RequestTimeout, TransportError
from tests.support import wait_until
from tests.support.nodes import Swarm

SEEDS = [int(os.environ.get("SWARM_NODE_TEST_SEED", "0")) or s for s in (11, 23, 37)]


@pytest.mark.parametrize("seed", SEEDS)
def test_acknowledged_writes_survive_kill_9_of_the_manager(nodes, seed):
    rng = random.Random(seed)
    swarm = Swarm(nodes)
    manager = swarm.manager
    node_id = manager.node_id
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        with ControlClient(str(manager.control_path), timeout_s=2) as client:
            while not stop.is_set():
                key = f"k{i}"
                try:
                    client.request(
                        "control", NodeUpdateRequest(node=node_id, availability="", label_add={key: "v"}, label_rm=())
                    )
                except (RemoteError, RequestTimeout, TransportError):
                    return  # the manager died: this write was never acknowledged
                acknowledged.append(key)
                i += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    target = rng.randint(20, 200)
    wait_until(lambda: len(acknowledged) >= target, 30, f"{target} acknowledged writes (seed {seed})")
    manager.kill()
    stop.set()
    thread.join(10)
    manager.start()
    labels = manager.request("control", NodeInspectRequest(node="self")).node["spec"]["labels"]
    lost = [k for k in acknowledged if k not in labels]
    assert lost == [], f"seed {seed}: {len(lost)} acknowledged write(s) lost after kill -9: {lost[:10]}"
