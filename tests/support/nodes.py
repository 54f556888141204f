"""Start real ``swarm-node`` processes on loopback for integration tests, and always clean them up."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from swarmnode.cli.local import free_port_pair, swarm_node_command

from .waiting import wait_until

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
# How long a raw socket waits for a node's answer: long enough that silence means a refusal.
REPLY_WAIT_MS = 1500


def run_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(swarm_node_command(*args), capture_output=True, text=True, timeout=timeout, check=False)


class NodeProcess:
    """One node process with its own state directory."""

    def __init__(
        self, state_dir: Path, *, role: str = "manager", listen: str = "127.0.0.1:0", netns: str | None = None
    ) -> None:
        self.state_dir = state_dir
        self.role = role
        self.listen = listen
        self.netns = netns  # a network namespace to run in (tests/support/netns.py), else this one
        self.proc: subprocess.Popen[str] | None = None
        self.stderr_path = state_dir.parent / f"{state_dir.name}.stderr"
        self.stdout_path = state_dir.parent / f"{state_dir.name}.stdout"

    @property
    def control_path(self) -> Path:
        return self.state_dir / "control.sock"

    def start(self, *extra: str, wait: bool = True, env: dict[str, str] | None = None) -> NodeProcess:
        args = ["start", "--listen", self.listen, "--state-dir", str(self.state_dir), *extra]
        if not self.state_dir.exists() or not any(self.state_dir.iterdir()):
            # Founding is explicit; a restart goes by what the state dir holds, and one whose node
            # left is refused, as an operator's plain `start` is. (An empty one: a mount point.)
            args += ["--role", self.role]
        return self._run(args, wait, env)

    def join(
        self, manager_addr: str, token: str, *extra: str, wait: bool = True, env: dict[str, str] | None = None
    ) -> NodeProcess:
        args = ["join", manager_addr, "--token", token, "--listen", self.listen, "--state-dir", str(self.state_dir)]
        return self._run([*args, *extra], wait, env)

    @property
    def node_id(self) -> str:
        return wait_until(self.try_status, 10.0, "status").node_id

    def _run(self, args: list[str], wait: bool, env: dict[str, str] | None = None) -> NodeProcess:
        self.stderr_file = open(self.stderr_path, "a")  # noqa: SIM115 - closed in stop()
        self.stdout_file = open(self.stdout_path, "a")  # noqa: SIM115 - closed in stop()
        in_netns = ["ip", "netns", "exec", self.netns] if self.netns else []  # it execs: the pid stays the node's
        self.proc = subprocess.Popen(
            [*in_netns, *swarm_node_command(*args)],
            stdout=self.stdout_file,
            stderr=self.stderr_file,
            text=True,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        if wait:
            wait_until(self._ready, START_TIMEOUT_S, f"node in {self.state_dir} to answer status")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"node exited with {self.proc.returncode}: {self.stderr()}")
        return self.control_path.exists() and self.try_status() is not None

    def stdout(self) -> str:
        return self.stdout_path.read_text() if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        import json

        path = self.state_dir / "node.log"
        records = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                records.append(json.loads(line))
            except ValueError:  # a line being written right now, or cut short by a kill
                continue
        return records

    def last_words(self, records: int = 20, stderr_lines: int = 20) -> str:
        """The node's last log records and stderr lines, to say where a failed wait's time went."""
        lines = [f"node {self.state_dir.name} (pid {self.proc.pid if self.proc else '-'}), last log records:"]
        for record in self.log_records()[-records:]:
            when, level, logger = record.get("time", ""), record.get("level", ""), record.get("logger", "")
            lines.append(f"  {when} {level} {logger}: {record.get('msg', '')}")
        tail = self.stderr().splitlines()[-stderr_lines:]
        if tail:
            lines.append(f"node {self.state_dir.name}, last stderr lines:")
            lines.extend(f"  {line}" for line in tail)
        return "\n".join(lines)

    def request(self, actor: str, body: Any, timeout_s: float = 5.0) -> Any:
        from swarmnode.transport import ControlClient

        with ControlClient(str(self.control_path), timeout_s=timeout_s) as client:
            return client.request(actor, body)

    def try_status(self) -> Any:
        from swarmnode.actors.control import StatusRequest
        from swarmnode.transport import RemoteError, TransportError

        try:
            return self.request("control", StatusRequest(), timeout_s=2.0)
        except (RemoteError, TransportError):
            return None

    def actors(self) -> dict[str, Any]:
        """Map each actor's path to its status row."""
        reply = wait_until(self.try_status, 10.0, "status")
        return {row.path: row for row in reply.actors}

    def wait_session(self, state: str, timeout: float) -> Any:
        """Wait until this node's `status` says its session is ``state`` (pending, active, failing, removed)."""
        return wait_until(
            lambda: (s := self.try_status()) is not None and s.session == state and s,
            timeout,
            f"{self.state_dir.name}'s session to be {state}",
        )

    @property
    def address(self) -> str:
        return wait_until(self.try_status, 10.0, "status").address

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signum)

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the process group, as a crash would, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and its whole process group."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        for name in ("stderr_file", "stdout_file"):
            handle = getattr(self, name, None)
            if handle is not None:
                handle.close()


class NodeFactory:
    """Make NodeProcess objects in folders under ``root``; ``stop_all`` stops them, newest first.

    Tests, chaos scripts and benches stop every node they made this way, also those of a
    cluster that failed to come up.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[NodeProcess] = []

    def __call__(self, name: str = "n1", **kwargs: Any) -> NodeProcess:
        node = NodeProcess(self.root / name, **kwargs)
        self.made.append(node)
        return node

    def stop_all(self) -> None:
        """Stop every node, newest first, even after one failed to stop; then raise the first error."""
        first: BaseException | None = None
        for node in reversed(self.made):
            try:
                node.stop()
            except BaseException as exc:  # also an interrupt (SIGTERM): the other nodes still stop
                first = first or exc
        if first is not None:
            raise first


class Swarm:
    """A manager and the workers that joined it, each a real process with its own state dir."""

    def __init__(
        self,
        make: Any,
        *,
        heartbeat: str | None = "1s",
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.make = make
        self.manager = make("manager", listen=f"127.0.0.1:{free_port_pair()}")
        # None keeps the CLI's default period (a benchmark measures the settings users get).
        settings = ("--dispatcher-heartbeat", heartbeat) if heartbeat is not None else ()
        self.manager.start(*settings, *extra, env=env)
        self.workers: list[NodeProcess] = []

    @property
    def manager_addr(self) -> str:
        return self.manager.listen

    def token(self, role: str = "worker") -> str:
        result = run_cli("--state-dir", str(self.manager.state_dir), "join-token", role, "-q")
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    @contextmanager
    def worker_on_small_disk(self, name: str, size_mb: int) -> Iterator[NodeProcess]:
        """A worker joined and ready whose state dir is a tmpfs of ``size_mb`` MB (tests/support/disk.py);
        every node is stopped before the disk goes, whatever happens."""
        from .disk import small_disk

        with small_disk(self.make.root / name, size_mb):
            try:
                worker = self.join(name)
                self.wait_status(worker.node_id, "ready", 10)
                yield worker
            finally:
                self.make.stop_all()

    def join(self, name: str, token: str | None = None, wait: bool = True) -> NodeProcess:
        node = self.make(name, role="worker", listen=f"127.0.0.1:{free_port_pair()}")
        node.join(self.manager_addr, token or self.token(), wait=wait)
        self.workers.append(node)
        return node

    def nodes(self) -> dict[str, Any]:
        """Map node id to its row in the manager's `node ls`."""
        from swarmnode.actors.control.messages import NodeListRequest

        reply = self.manager.request("control", NodeListRequest())
        return {row.node_id: row for row in reply.nodes}

    def wait_status(self, node_id: str, status: str, timeout: float) -> None:
        wait_until(
            lambda: (row := self.nodes().get(node_id)) is not None and row.status == status,
            timeout,
            f"node {node_id} to be {status}",
        )


class Managers(Swarm):
    """A swarm of N managers: the founder, and N - 1 that joined with the manager token."""

    def __init__(
        self, make: Any, count: int, *, heartbeat: str | None = "1s", env: dict[str, str] | None = None
    ) -> None:
        super().__init__(make, heartbeat=heartbeat, env=env)
        self.env = env
        self.all: list[NodeProcess] = [self.manager]
        token = self.token("manager")
        for i in range(1, count):
            node = make(f"m{i}", role="manager", listen=f"127.0.0.1:{free_port_pair()}")
            node.join(self.manager_addr, token, wait=True, env=env)
            self.all.append(node)
        wait_until(lambda: self.voters() == count, 30, f"{count} Raft voters")

    def cluster_status(self, node: NodeProcess) -> Any:
        from swarmnode.actors.control.messages import ClusterStatusRequest
        from swarmnode.transport import RemoteError, TransportError

        try:
            return node.request("control", ClusterStatusRequest(), timeout_s=2.0)
        except (RemoteError, TransportError):
            return None

    def voters(self) -> int:
        status = self.cluster_status(self.leader_node() or self.manager)
        return sum(1 for m in status.members if m.suffrage == "voter") if status else 0

    def alive(self) -> list[NodeProcess]:
        return [n for n in self.all if n.proc is not None and n.proc.poll() is None]

    def leader_node(self, among: Iterable[NodeProcess] | None = None) -> NodeProcess | None:
        """The manager of ``among`` (by default, every live one) that says it leads, or None."""
        for node in self.alive() if among is None else among:
            status = self.cluster_status(node)
            if status is not None and status.leader and status.leader == status.node_id:
                return node
        return None

    def wait_leader(self, timeout: float = 10.0) -> NodeProcess:
        return wait_until(self.leader_node, timeout, "a Raft leader")
