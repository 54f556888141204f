"""The ``swarm-node`` command: start or join a node, and talk to a running one through its control socket."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from swarmnode.actors.runtime.context import NodeSettings

from .common import (
    DEFAULT_PORT,
    Group,
    Settings,
    default_state_dir,
    fail,
    format_duration,
    normalize_listen,
    parse_duration,
    request,
)
from .swarm import actor, ca, cluster, emit_status, join_token, leave, node

__all__ = ["cli", "main"]

EXIT_INTERNAL = 70
MIN_CERT_EXPIRY_S = 30 * 60.0
MIN_HEARTBEAT_S = 0.1
# Tests only: certificates shorter than the CLI's 30-minute minimum, to watch renewals happen;
# snapshots every few entries, to watch followers catch up by snapshot.
TEST_CERT_EXPIRY_ENV = "SWARM_NODE_TEST_CERT_EXPIRY_S"
TEST_SNAPSHOT_EVERY_ENV = "SWARM_NODE_TEST_SNAPSHOT_EVERY"


def _settings() -> NodeSettings:
    every = os.environ.get(TEST_SNAPSHOT_EVERY_ENV)
    return NodeSettings(snapshot_every_entries=int(every)) if every else NodeSettings()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SWARM_NODE_STATE_DIR",
    default=default_state_dir,
    show_default="/var/lib/swarm-node as root",
    help="The node's state directory (keys, certificates, log, control socket).",
)
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True, help="How to print."
)
@click.version_option(package_name="swarm-node", prog_name="swarm-node")
@click.pass_context
def cli(ctx: click.Context, state_dir: Path, output: str) -> None:
    """Container orchestration built into every node, in the shape of Docker swarm mode."""
    ctx.obj = Settings(state_dir=state_dir, output=output)


F = TypeVar("F", bound=Callable[..., Any])


def _listen_option(default: str, default_text: str) -> Callable[[F], F]:
    return click.option(
        "--listen",
        default=default,
        callback=lambda ctx, param, value: normalize_listen(value) if value else "",
        help="Address of the cluster port (HOST:PORT); a manager also serves joiners on PORT+1. "
        f"Default: {default_text}.",
    )


listen_option = _listen_option(f"0.0.0.0:{DEFAULT_PORT}", f"0.0.0.0:{DEFAULT_PORT}")
start_listen_option = _listen_option(
    "", f"where the node listened before (kept in its state dir), else 0.0.0.0:{DEFAULT_PORT}"
)
advertise_option = click.option(
    "--advertise-addr",
    default="",
    callback=lambda ctx, param, value: normalize_listen(value) if value else "",
    help="Address other nodes reach this node at (default: the --listen address, where a wildcard host "
    "becomes this machine's address on its route to the manager joined or, founding a swarm, on its "
    "default route; 0.0.0.0 takes IPv4 routes only, :: prefers IPv4). Needed where there is no such route.",
)
state_dir_option = click.option(
    "--state-dir",
    "local_state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Same as the global --state-dir.",
)
verbose_option = click.option("--verbose", "-v", is_flag=True, help="Log debug records, and info to stderr.")


def _duration(minimum_s: float, what: str) -> object:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds < minimum_s:
            raise click.BadParameter(f"{what} {value} is below the minimum of {format_duration(minimum_s)}")
        return seconds

    return check


@cli.command()
@click.option(
    "--role",
    type=click.Choice(["manager", "worker"]),
    default=None,
    help="manager: on an empty state dir, found a new swarm. On a node's state dir: check its role.",
)
@start_listen_option
@advertise_option
@state_dir_option
@click.option(
    "--cert-expiry",
    default=None,
    callback=_duration(MIN_CERT_EXPIRY_S, "certificate expiry"),
    help="New swarm only: lifetime of node certificates (default 90d, minimum 30m).",
)
@click.option(
    "--dispatcher-heartbeat",
    default=None,
    callback=_duration(MIN_HEARTBEAT_S, "heartbeat period"),
    help="New swarm only: how often nodes report (default 5s).",
)
@click.option("--external-ca", default=None, help="New swarm only: protocol=cfssl,url=URL of a CFSSL signer.")
@click.option(
    "--external-ca-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The external CA's root certificate (PEM), with --external-ca.",
)
@click.option(
    "--force-new-cluster",
    is_flag=True,
    help="After quorum loss: keep this manager's data and make it the only manager of the swarm.",
)
@verbose_option
@click.pass_obj
def start(
    settings: Settings,
    role: str | None,
    listen: str,
    advertise_addr: str,
    local_state_dir: Path | None,
    cert_expiry: float | None,
    dispatcher_heartbeat: float | None,
    external_ca: str | None,
    external_ca_cert: Path | None,
    force_new_cluster: bool,
    verbose: bool,
) -> None:
    """Start a node in the foreground; on an empty state dir, `--role manager` founds a new swarm.

    SIGTERM or Ctrl-C stops it cleanly; started again, it rejoins its swarm.
    """
    from swarmnode.actors.ca.cfssl import ExternalCAError, parse_external_ca
    from swarmnode.actors.node.founding import DEFAULT_CERT_EXPIRY_S, DEFAULT_HEARTBEAT_S
    from swarmnode.actors.node.process import NodeConfig, run_node
    from swarmnode.actors.node.swarm_state import NODE_FILE

    state_dir = local_state_dir or settings.state_dir
    new_swarm_only = [
        flag
        for flag, value in (
            ("--cert-expiry", cert_expiry),
            ("--dispatcher-heartbeat", dispatcher_heartbeat),
            ("--external-ca", external_ca),
            ("--external-ca-cert", external_ca_cert),
        )
        if value is not None
    ]
    has_node = (state_dir.expanduser() / NODE_FILE).exists()
    if new_swarm_only and has_node:
        # Said, not refused: a service unit that founded the swarm starts it again with the same
        # command line. Ignored silently, they looked taken.
        click.echo(
            f"swarm-node: {', '.join(new_swarm_only)} set up a new swarm only; state dir {state_dir} holds a node "
            "of one, which keeps the settings it was founded with (changing them is not built): ignored",
            err=True,
        )
        external_ca = external_ca_cert = None  # not even read: a file gone since must not stop a restart
    external = None
    if external_ca is not None:
        try:
            external = parse_external_ca(external_ca)
        except (ExternalCAError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--external-ca") from None
        if external_ca_cert is None:
            raise click.BadParameter("an external CA needs its root certificate", param_hint="--external-ca-cert")
        if not external_ca_cert.is_file():
            raise click.BadParameter(f"{external_ca_cert} is no file", param_hint="--external-ca-cert")
    expiry = cert_expiry or DEFAULT_CERT_EXPIRY_S
    if os.environ.get(TEST_CERT_EXPIRY_ENV):
        expiry = float(os.environ[TEST_CERT_EXPIRY_ENV])
    config = NodeConfig(
        role=role,
        listen=listen,
        advertise_addr=advertise_addr,
        state_dir=state_dir,
        verbose=verbose,
        cert_expiry_s=expiry,
        heartbeat_period_s=dispatcher_heartbeat or DEFAULT_HEARTBEAT_S,
        external_ca=external,
        external_ca_cert=external_ca_cert.read_bytes() if external_ca_cert else None,
        settings=_settings(),
        force_new_cluster=force_new_cluster,
    )
    sys.exit(run_node(config))


@cli.command()
@click.argument("manager_addr")
@click.option(
    "--token",
    required=True,
    help="The join token from `swarm-node join-token worker` (or `manager`) on a manager.",
)
@listen_option
@advertise_option
@state_dir_option
@verbose_option
@click.pass_obj
def join(
    settings: Settings,
    manager_addr: str,
    token: str,
    listen: str,
    advertise_addr: str,
    local_state_dir: Path | None,
    verbose: bool,
) -> None:
    """Join the swarm of the manager at MANAGER_ADDR, then run this node in the foreground."""
    from swarmnode.actors.ca.tokens import TokenError, parse_join_token
    from swarmnode.actors.node.join import JoinOptions
    from swarmnode.actors.node.process import NodeConfig, run_node

    try:
        parse_join_token(token)
    except TokenError as exc:
        raise click.BadParameter(str(exc), param_hint="--token") from None
    config = NodeConfig(
        listen=listen,
        advertise_addr=advertise_addr,
        state_dir=local_state_dir or settings.state_dir,
        verbose=verbose,
        join=JoinOptions(
            manager_addr=normalize_listen(manager_addr), token=token, advertise_addr=advertise_addr or listen
        ),
        settings=_settings(),
    )
    sys.exit(run_node(config))


@cli.command()
@click.pass_obj
def status(settings: Settings) -> None:
    """Show this node's id, role and actors, with their state and restart counts."""
    from swarmnode.actors.control import StatusRequest

    emit_status(settings, request(settings, "control", StatusRequest()))


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


for command in (node, actor, ca, cluster, join_token, leave):
    cli.add_command(command)


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


if __name__ == "__main__":  # `python -m swarmnode.cli.main`, as the `swarm-node` script
    main()
