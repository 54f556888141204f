"""What every command shares: global settings, talking to the local node, parsing flag values."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NoReturn

import click

from swarmnode.transport import DEFAULT_PORT

__all__ = [
    "DEFAULT_PORT",
    "WRITE_TIMEOUT_S",
    "Command",
    "Group",
    "Refused",
    "Settings",
    "default_state_dir",
    "fail",
    "format_duration",
    "normalize_listen",
    "parse_duration",
    "request",
]

REQUEST_TIMEOUT_S = 10.0
# A write's own deadlines on the manager add up to more (a linearizable read up to 5 s, a wait for
# a leader, the write's 10 s): the CLI waits longer, so that the manager's word (done, refused, or
# "may or may not be committed") is what the operator reads, not a bare timeout.
WRITE_TIMEOUT_S = 25.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def default_state_dir() -> Path:
    """Return where a node keeps its state: /var/lib/swarm-node for root, else under the home."""
    if os.geteuid() == 0:
        return Path("/var/lib/swarm-node")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "swarm-node"


GLOBAL_OPTIONS = frozenset({"-o", "--output", "--state-dir"})


class _GlobalOptionHint:
    """Say where a global option goes when it is given after a command (``node ls -o json``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc, no-any-return]
        except click.NoSuchOption as exc:
            if exc.option_name not in GLOBAL_OPTIONS:
                raise
            command = ctx.command_path.partition(" ")[2]
            raise click.UsageError(
                f"No such option {exc.option_name!r} here: it is an option of swarm-node itself, given before the "
                f"command (swarm-node {exc.option_name} ... {command} ...)",
                ctx,
            ) from None


class Command(_GlobalOptionHint, click.Command):
    """Every swarm-node command. It also takes the global --state-dir and --output after its
    name (as `start --state-dir` always did): an operator types `status --state-dir X` right
    after `start --state-dir X`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given = {opt for param in self.params for opt in getattr(param, "opts", ())}
        if "--state-dir" not in given:
            self.params.append(
                click.Option(
                    ["--state-dir"],
                    type=click.Path(path_type=Path, file_okay=False),
                    expose_value=False,
                    callback=_local_state_dir,
                    help="Same as the global --state-dir.",
                )
            )
        if "--output" not in given:
            self.params.append(
                click.Option(
                    ["--output", "-o"],
                    type=click.Choice(["table", "json"]),
                    expose_value=False,
                    callback=_local_output,
                    help="Same as the global --output.",
                )
            )


def _local_state_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_object(Settings).state_dir = value  # type: ignore[union-attr]  # the root group made it


def _local_output(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Settings).output = value  # type: ignore[union-attr]


class Group(_GlobalOptionHint, click.Group):
    """Every swarm-node group: its commands and groups are of these classes too."""

    command_class = Command
    group_class = type  # groups made with @group.group() are of this class


class Settings:
    """Global options, handed to every subcommand."""

    def __init__(self, state_dir: Path, output: str) -> None:
        self.state_dir = state_dir
        self.output = output

    @property
    def control_path(self) -> Path:
        """The node's control socket (NodeContext.control_path, without a context)."""
        return self.state_dir / "control.sock"


class Refused(click.ClickException):
    """The node answered with an error: its text for the operator, and its code (e.g. not-found)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _lock_holder(state_dir: Path, unknown: str | None = None) -> str | None:
    """The pid holding the state dir's lock, or ``unknown`` when that cannot be told (a hint only,
    as some file systems hide the lock there)."""
    from swarmnode.actors.node.identity import lock_holder

    try:
        return lock_holder(state_dir)
    except OSError:
        return unknown


def fail(text: str) -> NoReturn:
    raise click.ClickException(text)


def normalize_listen(value: str) -> str:
    """Check ``HOST:PORT`` (or ``HOST``, ``:PORT``, ``[V6]:PORT``) and return it with both parts.

    It is read as the transport reads addresses (one parser); an IPv6 host keeps its brackets.
    """
    from swarmnode.transport import TransportError, join_host_port, split_host_port

    text = f"0.0.0.0{value}" if value.startswith(":") and value.count(":") == 1 else value
    try:
        host, port = split_host_port(text)
    except TransportError as exc:
        raise click.BadParameter(str(exc).replace(repr(text), repr(value))) from None
    return join_host_port(host, port)


def parse_duration(text: str) -> float:
    """Return the seconds in a duration such as ``90d``, ``2160h``, ``1h30m``, ``30m``, ``5s``, ``500ms``."""
    value = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos != len(value) or not value:
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 90d, 2160h, 1h30m, 30m, 5s or 500ms")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds the way parse_duration reads them: 90d, 1h30m, 5s."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    parts = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def _nobody_listens(path: Path) -> bool:
    """Whether connecting to the control socket is refused: no process listens on it any more."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False  # another problem (permissions, say): the request says it
    return False


def request(settings: Settings, actor: str, body: Any, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
    """Send ``body`` to ``actor`` on the local node and return the reply, or fail with a readable error."""
    from swarmnode.actors.node.swarm_state import NODE_FILE
    from swarmnode.transport import ConnectionLost, ControlClient, RemoteError, RequestTimeout, TransportError

    path = settings.control_path
    stale = path.exists() and _nobody_listens(path)
    holder = _lock_holder(settings.state_dir) if stale or not path.exists() else None  # not on the usual path
    if stale and holder is None:
        # Left by a process that died (kill -9): a request would wait its whole timeout for no one.
        fail(
            f"no node is running with state dir {settings.state_dir} (its control socket {path} is left from a "
            "process that ended without removing it); `swarm-node start` runs the node it holds"
        )
    if stale or not path.exists():
        if holder is not None:
            fail(
                f"the node of state dir {settings.state_dir} (pid {holder}) has no control socket yet: it is "
                "starting (or joining, or stopping); try again in a moment"
            )
        if (settings.state_dir / NODE_FILE).exists():
            fail(
                f"no node is running with state dir {settings.state_dir} (no control socket at {path}); "
                "`swarm-node start` runs the node it holds (`swarm-node leave --force` forgets it instead), or pass "
                "--state-dir"
            )
        fail(
            f"no node is running with state dir {settings.state_dir}, which holds no swarm node; pass --state-dir, "
            "or `swarm-node join MANAGER_ADDR --token TOKEN` to join a swarm (`start --role manager` founds a new one)"
        )
    try:
        with ControlClient(str(path), timeout_s=timeout_s) as client:
            return client.request(actor, body)
    except RemoteError as exc:
        text = f"{exc.text} ({exc.code})" if exc.code not in ("refused", "not-manager") else exc.text
        raise Refused(text, exc.code) from None
    except ConnectionLost:
        gone = _lock_holder(settings.state_dir, unknown="?") is None  # one that cannot be told is not said stopped
        fail(
            f"the node of state dir {settings.state_dir} "
            + ("stopped (it was killed, or it crashed)" if gone else "closed the connection")
            + " before it answered: what was asked may or may not be done; check before you retry"
            + (" (`swarm-node start` runs it again)" if gone else "")
        )
    except RequestTimeout:
        fail(f"the node at {path} did not answer within {timeout_s:g} s (is it stopping or overloaded?)")
    except TransportError as exc:
        fail(f"cannot talk to the node at {path}: {exc}")
