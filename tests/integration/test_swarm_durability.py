"""A manager killed -9 in the middle of writes keeps every write it acknowledged."""

from __future__ import annotations

import os
import random

import pytest

from tests.support import wait_until
from tests.support.nodes import Swarm
from tests.support.writers import LabelWriter, labels_on

SEEDS = [int(os.environ.get("SWARM_NODE_TEST_SEED", "0")) or s for s in (11, 23, 37)]


@pytest.mark.parametrize("seed", SEEDS)
def test_acknowledged_writes_survive_kill_9_of_the_manager(nodes, seed):
    rng = random.Random(seed)
    swarm = Swarm(nodes)
    manager = swarm.manager
    node_id = manager.node_id
    target = rng.randint(20, 200)
    with LabelWriter(lambda: manager, node_id, timeout_s=2) as writer:
        wait_until(lambda: len(writer.acknowledged) >= target, 30, f"{target} acknowledged writes (seed {seed})")
        manager.kill()  # the write in flight fails: it was never acknowledged
    manager.start()
    acknowledged = writer.acknowledged
    labels = labels_on(manager, "self")
    lost = [k for k in acknowledged if k not in labels]
    assert lost == [], f"seed {seed}: {len(lost)} acknowledged write(s) lost after kill -9: {lost[:10]}"
