"""The ``swarm-node`` command: start a node, and talk to a running one through its control socket."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from .output import emit_json, plain, table

__all__ = ["cli", "main"]

DEFAULT_PORT = 2377
EXIT_INTERNAL = 70
REQUEST_TIMEOUT_S = 10.0


def default_state_dir() -> Path:
    """Return where a node keeps its state: /var/lib/swarm-node for root, else under the home."""
    if os.geteuid() == 0:
        return Path("/var/lib/swarm-node")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "swarm-node"


class Settings:
    """Global options, handed to every subcommand."""

    def __init__(self, state_dir: Path, output: str) -> None:
        self.state_dir = state_dir
        self.output = output


def fail(text: str) -> NoReturn:
    raise click.ClickException(text)


def normalize_listen(value: str) -> str:
    """Check ``HOST:PORT`` (or ``HOST``, or ``:PORT``) and return it with both parts."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = value, str(DEFAULT_PORT)
    host = host.strip("[]") or "0.0.0.0"
    try:
        port = int(port_text)
    except ValueError:
        raise click.BadParameter(f"{value!r}: the port {port_text!r} is not a number (use HOST:PORT)") from None
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"{value!r}: port {port} is out of range 0-65535")
    return f"{host}:{port}"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SWARM_NODE_STATE_DIR",
    default=default_state_dir,
    show_default="/var/lib/swarm-node as root",
    help="The node's state directory (keys, log, control socket).",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print replies.",
)
@click.version_option(package_name="swarm-node", prog_name="swarm-node")
@click.pass_context
def cli(ctx: click.Context, state_dir: Path, output: str) -> None:
    """Container orchestration built into every node, in the shape of Docker swarm mode."""
    ctx.obj = Settings(state_dir=state_dir, output=output)


@cli.command()
@click.option("--role", type=click.Choice(["manager", "worker"]), default="manager", show_default=True)
@click.option(
    "--listen",
    default=f"0.0.0.0:{DEFAULT_PORT}",
    show_default=True,
    callback=lambda ctx, param, value: normalize_listen(value),
    help="Address of the cluster port (HOST:PORT).",
)
@click.option(
    "--state-dir",
    "start_state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Same as the global --state-dir.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log debug records to the log and info to stderr.")
@click.pass_obj
def start(settings: Settings, role: str, listen: str, start_state_dir: Path | None, verbose: bool) -> None:
    """Start a node in the foreground; SIGTERM or Ctrl-C stops it cleanly."""
    from swarmnode.actors.node import NodeConfig, run_node

    code = run_node(
        NodeConfig(role=role, listen=listen, state_dir=start_state_dir or settings.state_dir, verbose=verbose)
    )
    sys.exit(code)


def _request(settings: Settings, actor: str, body: Any) -> Any:
    """Send ``body`` to ``actor`` on the local node and return the reply, or fail with a readable error."""
    from swarmnode.transport import ControlClient, RemoteError, RequestTimeout, TransportError

    path = settings.state_dir / "control.sock"
    if not path.exists():
        fail(
            f"no node is running with state dir {settings.state_dir} (no control socket at {path}); "
            "start one with `swarm-node start`, or pass --state-dir"
        )
    try:
        with ControlClient(str(path), timeout_s=REQUEST_TIMEOUT_S) as client:
            return client.request(actor, body)
    except RemoteError as exc:
        fail(f"{actor}: {exc.text} ({exc.code})")
    except RequestTimeout:
        fail(f"the node at {path} did not answer within {REQUEST_TIMEOUT_S:g} s (is it stopping or overloaded?)")
    except TransportError as exc:
        fail(f"cannot talk to the node at {path}: {exc}")


@cli.command()
@click.pass_obj
def status(settings: Settings) -> None:
    """Show this node's id, role and actors, with their state and restart counts."""
    from swarmnode.actors.control import StatusRequest
    from swarmnode.actors.messages import to_body

    reply = _request(settings, "control", StatusRequest())
    if settings.output == "json":
        emit_json(to_body(reply))
        return
    click.echo(f"Node:     {reply.node_id}")
    click.echo(f"Role:     {reply.role}")
    click.echo(f"Address:  {reply.address}")
    click.echo(f"PID:      {reply.pid}    Uptime: {reply.uptime_s:.1f} s")
    click.echo("")
    rows = []
    for a in reply.actors:
        depth = a.path.count("/")
        name = "  " * depth + a.path.rsplit("/", 1)[-1]
        kind = f"supervisor ({a.strategy})" if a.supervisor else "actor"
        rows.append((name, kind, a.state, a.restarts, a.last_reason))
    click.echo(table(("ACTOR", "KIND", "STATE", "RESTARTS", "LAST EXIT"), rows))


@cli.group()
def actor() -> None:
    """Talk to actors directly (debugging)."""


@actor.command("send")
@click.argument("node")
@click.argument("actor_name", metavar="ACTOR")
@click.argument("kind")
@click.argument("body", required=False, default="{}")
@click.pass_obj
def actor_send(settings: Settings, node: str, actor_name: str, kind: str, body: str) -> None:
    """Send message KIND with fields BODY (a JSON object) to ACTOR on NODE and print the reply.

    NODE is this node's id, or "self". Example: swarm-node actor send self control Ping '{"payload": "hi"}'
    """
    from swarmnode.actors.messages import CodecError, from_body, message_kinds, message_schema, to_body
    from swarmnode.actors.messages._catalog import load_all_messages

    load_all_messages()
    try:
        fields = json.loads(body)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{body!r} is not JSON: {exc}", param_hint="BODY") from None
    if kind not in message_kinds():
        raise click.BadParameter(
            f"unknown message kind {kind!r}; known: {', '.join(message_kinds())}", param_hint="KIND"
        )
    schema = message_schema()[kind]
    if isinstance(fields, dict):
        # JSON has no bytes: a string given for a bytes field is taken as its UTF-8 text.
        fields = {k: v.encode() if schema.get(k) == "bytes" and isinstance(v, str) else v for k, v in fields.items()}
    try:
        msg = from_body(kind, fields)
    except CodecError as exc:
        raise click.BadParameter(str(exc), param_hint="BODY") from None
    if node != "self":
        from swarmnode.actors.control import StatusRequest

        me = _request(settings, "control", StatusRequest()).node_id
        if node != me:
            fail(
                f"node {node!r} is not this node ({me}); actor send reaches only the local node until "
                "nodes know each other (swarm init/join)"
            )
    reply = _request(settings, actor_name, msg)
    emit_json({"kind": reply.KIND, "body": plain(to_body(reply))})


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(swarm-node completion bash)"`."""
    from click.shell_completion import get_completion_class

    comp_cls = get_completion_class(shell)
    if comp_cls is None:  # click knows all three; guard against an older click
        fail(f"no completion for {shell}")
    comp = comp_cls(cli, {}, "swarm-node", "_SWARM_NODE_COMPLETE")
    click.echo(comp.source())


def main() -> None:
    """Run the CLI; turn any unexpected exception into one readable line, never a traceback."""
    try:
        cli.main(prog_name="swarm-node", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        click.echo(f"swarm-node: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("Please report it with the node log (node.log in the state dir).", err=True)
        sys.exit(EXIT_INTERNAL)
