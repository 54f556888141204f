"""Run the Raft simulation over many seeds, or replay one seed with its trace.

python -m tests.sim --seeds 100000 [--start N] [--steps M] [--jobs 2]
python -m tests.sim --replay SEED [--steps M] --verbose
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from .cluster import DEFAULT_STEPS, simulate

PROGRESS_EVERY_S = 10.0  # print progress at most this often (wall clock of the runner, not the simulation)


def _run_one(args: tuple[int, int, int | None]) -> tuple[int, str | None]:
    seed, steps, nodes = args
    try:
        simulate(seed, steps=steps, nodes=nodes)
    except AssertionError as exc:
        return seed, str(exc)
    return seed, None


def _results(seeds: range, steps: int, nodes: int | None, jobs: int) -> Iterator[tuple[int, str | None]]:
    work = ((seed, steps, nodes) for seed in seeds)
    if jobs <= 1:
        yield from map(_run_one, work)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_run_one, work, chunksize=16)


def _replay_command(seed: int, steps: int, nodes: int | None) -> str:
    extra = f" --nodes {nodes}" if nodes is not None else ""
    return f"python -m tests.sim --replay {seed} --steps {steps}{extra} --verbose"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=1000, help="how many seeds to run (default 1000)")
    parser.add_argument("--start", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"steps per seed (default {DEFAULT_STEPS})")
    parser.add_argument("--nodes", type=int, choices=(3, 5), help="cluster size (default: the seed chooses)")
    parser.add_argument("--jobs", type=int, default=1, help="processes to run seeds in (default 1)")
    parser.add_argument("--replay", type=int, metavar="SEED", help="run only this seed")
    parser.add_argument("--verbose", action="store_true", help="print the trace of a replayed seed")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `--replay N --verbose | head` ends quietly

    if args.replay is not None:
        try:
            result = simulate(args.replay, steps=args.steps, nodes=args.nodes, verbose=args.verbose)
        except AssertionError as exc:
            print(f"FAIL {exc}")
            return 1
        print(
            f"seed {result.seed}: ok, {result.steps} steps, {result.ticks} ticks, {result.acked_writes} writes "
            f"acknowledged, {result.reads_answered} reads answered, {result.elections} leaders, "
            f"{result.crashes} crashes, commit {result.commit_index}; trace digest {result.digest}"
        )
        print(f"  {result.params}")
        return 0

    seeds = range(args.start, args.start + args.seeds)
    failures: list[int] = []
    started = last_report = time.monotonic()
    for done, (seed, error) in enumerate(_results(seeds, args.steps, args.nodes, args.jobs), start=1):
        if error is not None:
            failures.append(seed)
            print(f"FAIL {error}\n  replay: {_replay_command(seed, args.steps, args.nodes)}\n", flush=True)
        now = time.monotonic()
        if now - last_report >= PROGRESS_EVERY_S or done == len(seeds):
            last_report = now
            rate = done / max(now - started, 1e-9)
            print(
                f"{done}/{len(seeds)} seeds ({seeds.start}..{seed}), {len(failures)} failed, {rate:.1f} seeds/s",
                flush=True,
            )
    if failures:
        print(f"{len(failures)} failing seeds: {' '.join(map(str, failures[:50]))}")
        print(f"replay one: {_replay_command(failures[0], args.steps, args.nodes)}")
        return 1
    print(f"all {len(seeds)} seeds passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
