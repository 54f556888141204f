"""Deterministic simulation of the Raft core: many cores, one thread, one seed each.

``run_seed(seed)`` runs one seed and raises ``AssertionError("seed N: ...")`` when a safety
or liveness property breaks; ``python -m tests.sim --seeds 100000`` runs many, and
``python -m tests.sim --replay N --verbose`` prints one seed's trace. docs/sim.md explains it.
"""

from .cluster import DEFAULT_STEPS, SimResult, Simulation, run_seed, simulate

__all__ = ["DEFAULT_STEPS", "SimResult", "Simulation", "run_seed", "simulate"]
