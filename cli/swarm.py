"""Swarm management commands: nodes, join tokens, leaving, the CA, and talking to actors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import click

from .common import REQUEST_TIMEOUT_S, WRITE_TIMEOUT_S, Command, Group, Refused, Settings, fail, request
from .output import emit_json, plain, rfc3339, table

__all__ = ["actor", "ca", "cluster", "emit_status", "join_token", "leave", "node"]

POLL_S = 0.5


def emit_status(settings: Settings, reply: Any) -> None:
    from swarmnode.actors.messages import to_body

    if settings.output == "json":
        emit_json(to_body(reply) | {"session_since": rfc3339(reply.session_since)})
        return
    click.echo(f"Node:     {reply.node_id}")
    click.echo(f"Role:     {reply.role}")
    click.echo(f"Address:  {reply.advertise_addr or reply.address}")
    if reply.advertise_addr and reply.advertise_addr != reply.address:
        click.echo(f"Listen:   {reply.address}")
    click.echo(f"PID:      {reply.pid}    Uptime: {reply.uptime_s:.1f} s")
    if reply.session:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(reply.session_since))
        click.echo(f"Swarm:    {reply.session} since {since}: {reply.session_detail}")
    click.echo("")
    rows = []
    for a in reply.actors:
        depth = a.path.count("/")
        name = "  " * depth + a.path.rsplit("/", 1)[-1]
        kind = f"supervisor ({a.strategy})" if a.supervisor else "actor"
        rows.append((name, kind, a.state, a.restarts, a.last_reason))
    click.echo(table(("ACTOR", "KIND", "STATE", "RESTARTS", "LAST EXIT"), rows))


def _date(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch_s)) if epoch_s else ""


@click.group(cls=Group)
def node() -> None:
    """Manage the nodes of the swarm (on a manager)."""


@node.command("ls")
@click.option("--quiet", "-q", is_flag=True, help="Print node ids only.")
@click.pass_obj
def node_ls(settings: Settings, quiet: bool) -> None:
    """List the nodes of the swarm."""
    from swarmnode.actors.control.messages import NodeListRequest
    from swarmnode.actors.messages import to_body

    reply = request(settings, "control", NodeListRequest())
    if settings.output == "json":
        emit_json([row | {"cert_expiry": rfc3339(row["cert_expiry"])} for row in to_body(reply)["nodes"]])
        return
    if quiet:
        for n in reply.nodes:
            click.echo(n.node_id)
        return
    rows = [
        (
            n.node_id + (" *" if n.is_self else ""),
            n.hostname,
            _role(n.role, n.desired_role),
            n.status.capitalize(),
            n.availability.capitalize(),
            n.manager_status,
            n.addr,
            _date(n.cert_expiry),
        )
        for n in reply.nodes
    ]
    headers = ("ID", "HOSTNAME", "ROLE", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ADDRESS", "CERT EXPIRY")
    click.echo(table(headers, rows))


def _role(role: str, desired: str) -> str:
    """The role a node runs as, and the one it is becoming while `node promote`/`demote` is under way."""
    if not desired or desired == role:
        return role
    return f"{role} (demoting)" if desired == "worker" else f"{role} (promoting)"


@node.command("inspect")
@click.argument("nodes", nargs=-1, required=True)
@click.pass_obj
def node_inspect(settings: Settings, nodes: tuple[str, ...]) -> None:
    """Show nodes as JSON: NODE is an id, a unique id prefix, a hostname, or "self"."""
    from swarmnode.actors.control.messages import NodeInspectRequest

    out, errors = [], []
    for ref in nodes:
        try:
            body = request(settings, "control", NodeInspectRequest(node=ref)).node
        except Refused as exc:  # as Docker: the nodes found are shown, then the ones not found
            if exc.code != "not-found":
                raise
            errors.append(exc.format_message())
            continue
        certificate = body.get("status", {}).get("certificate")
        if isinstance(certificate, bytes):
            body["status"]["certificate"] = certificate.decode()
        # Times as Docker's inspect gives them (RFC 3339), not as the Store keeps them (epoch s).
        for key in ("created_at", "updated_at"):
            body[key] = rfc3339(body[key])
        if "cert_expiry" in body.get("status", {}):
            body["status"]["cert_expiry"] = rfc3339(body["status"]["cert_expiry"])
        out.append(plain(body))
    click.echo(json.dumps(out, indent=2, sort_keys=True))
    if errors:
        fail("; ".join(errors))


@node.command("rm")
@click.argument("nodes", nargs=-1, required=True)
@click.option("--force", "-f", is_flag=True, help="Remove a node even if it is ready.")
@click.pass_obj
def node_rm(settings: Settings, nodes: tuple[str, ...], force: bool) -> None:
    """Remove nodes from the swarm; their certificates are refused from then on."""
    from swarmnode.actors.control.messages import NodeRemoveRequest

    _each(
        settings,
        nodes,
        lambda ref: {
            "node_id": request(settings, "control", NodeRemoveRequest(node=ref, force=force), WRITE_TIMEOUT_S).node_id
        },
        lambda row: row["node_id"],
    )


def _each(
    settings: Settings, refs: tuple[str, ...], do: Callable[[str], dict[str, Any]], say: Callable[[dict[str, Any]], str]
) -> None:
    """Do a command for every node named: print a line for each (``say``), or with -o json one
    list of what was done, also when a later node fails (its error follows on stderr)."""
    done: list[dict[str, Any]] = []
    try:
        for ref in refs:
            row = do(ref)
            done.append(row)
            if settings.output != "json":
                click.echo(say(row))
    finally:
        if settings.output == "json":
            emit_json(done)


def _set_role(settings: Settings, nodes: tuple[str, ...], role: str) -> None:
    from swarmnode.actors.control.messages import NodeRoleRequest

    def do(ref: str) -> dict[str, Any]:
        reply = request(settings, "control", NodeRoleRequest(node=ref, role=role), WRITE_TIMEOUT_S)
        return {"node_id": reply.node_id, "role": role, "changed": reply.changed}

    done = "promoted to a manager" if role == "manager" else "demoted to a worker"

    def say(row: dict[str, Any]) -> str:
        return f"Node {row['node_id']} {done}." if row["changed"] else f"Node {row['node_id']} is already a {role}."

    _each(settings, nodes, do, say)


@node.command("promote")
@click.argument("nodes", nargs=-1, required=True)
@click.pass_obj
def node_promote(settings: Settings, nodes: tuple[str, ...]) -> None:
    """Make workers managers: they get manager certificates and join the Raft group."""
    _set_role(settings, nodes, "manager")


@node.command("demote")
@click.argument("nodes", nargs=-1, required=True)
@click.pass_obj
def node_demote(settings: Settings, nodes: tuple[str, ...]) -> None:
    """Make managers workers (refused when the swarm would lose quorum)."""
    _set_role(settings, nodes, "worker")


@node.command("update")
@click.argument("node_ref", metavar="NODE")
@click.option("--availability", type=click.Choice(["active", "pause", "drain"]), default=None)
@click.option("--label-add", multiple=True, help="Add or change a label (KEY=VALUE); repeatable.")
@click.option("--label-rm", multiple=True, help="Remove a label (KEY); repeatable.")
@click.pass_obj
def node_update(
    settings: Settings, node_ref: str, availability: str | None, label_add: tuple[str, ...], label_rm: tuple[str, ...]
) -> None:
    """Change a node's availability or labels."""
    from swarmnode.actors.control.messages import NodeUpdateRequest

    labels = {}
    for item in label_add:
        key, sep, value = item.partition("=")
        if not key:
            raise click.BadParameter(f"{item!r} has no key; use KEY=VALUE", param_hint="--label-add")
        labels[key] = value if sep else ""
    reply = request(
        settings,
        "control",
        NodeUpdateRequest(node=node_ref, availability=availability or "", label_add=labels, label_rm=label_rm),
        WRITE_TIMEOUT_S,
    )
    if settings.output == "json":
        emit_json({"node_id": reply.node_id})
        return
    click.echo(reply.node_id)


@click.command("join-token", cls=Command)
@click.argument("role", type=click.Choice(["worker", "manager"]))
@click.option("--rotate", is_flag=True, help="Replace the token; the old one is refused from then on.")
@click.option("--quiet", "-q", is_flag=True, help="Print the token only.")
@click.pass_obj
def join_token(settings: Settings, role: str, rotate: bool, quiet: bool) -> None:
    """Show (or rotate) the token that lets a node join as a worker or a manager."""
    from swarmnode.actors.control.messages import JoinTokenRequest

    reply = request(settings, "control", JoinTokenRequest(role=role, rotate=rotate), WRITE_TIMEOUT_S)
    command = f"swarm-node join --token {reply.token} {reply.manager_addr}"
    if settings.output == "json":  # before --quiet, as in `node ls`
        addr = reply.manager_addr
        emit_json({"role": role, "token": reply.token, "manager_addr": addr, "command": command, "rotated": rotate})
        return
    if quiet:
        click.echo(reply.token)
        return
    if rotate:
        click.echo(f"Successfully rotated {role} join token.\n")
    click.echo(f"To add a {role} to this swarm, run the following command:\n")
    click.echo(f"    {command}\n")


@click.command(cls=Command)
@click.option(
    "--force",
    "-f",
    is_flag=True,
    help="Leave even as a manager (the others keep it as a voter until `node demote` and `node rm`; "
    "the last manager erases the swarm), or a node that is not running.",
)
@click.pass_obj
def leave(settings: Settings, force: bool) -> None:
    """Leave the swarm: the node stops and forgets its swarm state (with --force, also a node not running)."""
    from swarmnode.actors.control.messages import LeaveRequest

    if force and _leave_offline(settings):
        return
    reply = request(settings, "control", LeaveRequest(force=force))
    said = f"Node left the swarm; {reply.then}." if reply.then else "Node left the swarm."
    if settings.output == "json":
        emit_json({"left": True, "node_id": reply.node_id, "was_running": True})
        if reply.then:
            click.echo(said, err=True)  # what the managers still need is for the operator, not the parser
        return
    click.echo(said)


def _no_leader_steps(reply: Any, voters: int) -> None:
    """What to do without a leader: who is silent, who is out of Raft (a full disk), the steps."""
    others = [m for m in reply.members if m.suffrage == "voter" and m.node_id != reply.node_id]
    full = [m.node_id for m in others if "disk full" in m.reachable]
    silent = [m.node_id for m in others if m.reachable == "unreachable"]
    known = others and all(m.reachable in ("reachable", "unreachable") or m.node_id in full for m in others)
    heard = f"; this one hears {len(others) - len(silent)} of the {len(others)} others lately" if known else ""
    lines = [
        f"A leader needs {voters // 2 + 1} of the {voters} voters up and reaching each other{heard}"
        + (f" (not {', '.join(silent)})." if silent else ".")
    ]
    if full:
        lines.append(
            f"- Up, but out of Raft until their disk has room: {', '.join(full)}. Free space there: they take "
            "part again by themselves (not --force-new-cluster: nothing is lost)."
        )
    if not full or silent or not known:
        lines += [
            "- Start the managers that are down again (`swarm-node start --state-dir DIR` on their machines).",
            "- A manager restarted on another address tells the others where it is, but two that moved before "
            "either was recorded cannot find each other: start one of them where it was (ADDRESS below).",
            "- If the other managers are up, this one may have been removed from the swarm (`node ls` on one of "
            "them does not list it): then `swarm-node leave --force` here (not --force-new-cluster: that would "
            "found a second swarm).",
            "- A manager whose disk filled is up but takes no part until it has room again (`cluster status` on "
            "it says so): free space there, and it goes on by itself.",
            "- If most managers are lost for good, `swarm-node start --force-new-cluster` on a survivor recovers "
            "the swarm with its data.",
        ]
    for line in lines:
        click.echo(f"               {line}")


def _leave_offline(settings: Settings) -> bool:
    """Forget the swarm state of a node that is not running (its state dir free); False if one runs."""
    import os

    from swarmnode.actors.control.actor import still_a_voter
    from swarmnode.actors.node.identity import StateDirError, lock_state_dir
    from swarmnode.actors.node.swarm_state import NODE_FILE, forget_swarm, load_node_state

    state_dir = settings.state_dir
    if not (state_dir / NODE_FILE).exists():
        return False  # nothing to forget here: the request path says what there is
    try:
        fd = lock_state_dir(state_dir)  # no node may start meanwhile
    except StateDirError:
        return False  # a node process holds it: it is asked to leave
    try:
        state = load_node_state(state_dir)
        forget_swarm(state_dir)
        settings.control_path.unlink(missing_ok=True)  # left by a process that died
    finally:
        os.close(fd)
    who = state.node_id if state is not None else "it"
    then = (
        still_a_voter(who)
        if state is not None and state.role == "manager"
        else f"on a manager, `swarm-node node rm {who}` (until then it is listed, down)"
    )
    said = f"Node left the swarm. It was not running: its swarm state here is removed; {then}."
    if settings.output == "json":
        emit_json({"left": True, "node_id": state.node_id if state is not None else "", "was_running": False})
        click.echo(said, err=True)  # what the managers still need is for the operator, not the parser
    else:
        click.echo(said)
    return True


@click.group(cls=Group)
def ca() -> None:
    """Manage the swarm's root CA (on a manager)."""


@ca.command("rotate")
@click.option("--detach", "-d", is_flag=True, help="Start the rotation and return without waiting for it.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds to wait.",
)
@click.pass_obj
def ca_rotate(settings: Settings, detach: bool, timeout_s: float) -> None:
    """Replace the root CA, cross-signed, and wait until every node holds a certificate of the new root.

    A rotation under way is joined, not started again; `ca status` only looks.
    """
    from swarmnode.actors.control.messages import CARotateRequest
    from swarmnode.actors.messages import to_body

    text = settings.output != "json"  # -o json: the last state only, as `ca status -o json` gives it

    def say(line: str) -> None:
        click.echo(line, err=not text)  # with -o json, the progress is for the operator, on stderr

    reply = request(settings, "ca", CARotateRequest(start=False))
    if reply.state == "rotating":
        say(f"A rotation is under way (new root CA digest {reply.root_digest}): following it, not starting another")
    else:
        reply = request(settings, "ca", CARotateRequest(start=True))
        say(f"New root CA digest: {reply.root_digest}")
    deadline = time.monotonic() + timeout_s
    shown = None
    down_said: set[str] = set()
    while not detach and reply.state != "done":
        progress = (reply.nodes_done, reply.nodes_total)
        if progress != shown:
            say(f"rotating: {reply.nodes_done}/{reply.nodes_total} nodes hold certificates of the new root")
            shown = progress
        if down := [p for p in _down(reply) if p not in down_said]:
            say(
                f"waiting for nodes that are down: {', '.join(down)}; a node renews when it comes back: `node rm` one "
                "that will not, or `ca rotate -d` not to wait"
            )
            down_said.update(down)
        if time.monotonic() > deadline:
            if not text:
                emit_json(to_body(reply))  # how far it got, as the nodes commands print what was done
            fail(f"the rotation is still under way after {timeout_s:g} s: {_pending(reply)}")
        time.sleep(POLL_S)  # a poll interval of a progress display, bounded by the deadline
        reply = request(settings, "ca", CARotateRequest(start=False))
    if not text:
        emit_json(to_body(reply))
        return
    click.echo(
        _rotation_line(reply, f"Root CA rotation done: {reply.nodes_done}/{reply.nodes_total} nodes on the new root")
    )


@ca.command("status")
@click.pass_obj
def ca_status(settings: Settings) -> None:
    """Show the root CA and how far a rotation is, without starting one."""
    from swarmnode.actors.control.messages import CARotateRequest
    from swarmnode.actors.messages import to_body

    reply = request(settings, "ca", CARotateRequest(start=False))
    if settings.output == "json":
        emit_json(to_body(reply))
        return
    click.echo(f"Root CA digest: {reply.root_digest}")
    click.echo(
        _rotation_line(reply, f"No rotation under way: {reply.nodes_done}/{reply.nodes_total} nodes on this root")
    )


def _rotation_line(reply: Any, done: str) -> str:
    """``done`` once the rotation is over, else how far it is and what it waits for."""
    return done if reply.state == "done" else f"Root CA rotation under way: {_pending(reply)}"


def _pending(reply: Any) -> str:
    """How far a rotation is, and which nodes it waits for."""
    left = reply.nodes_total - reply.nodes_done
    text = f"{reply.nodes_done}/{reply.nodes_total} nodes on the new root"
    if reply.pending:
        more = f" and {left - len(reply.pending)} more" if left > len(reply.pending) else ""
        text += f"; waiting for {', '.join(_named(p) for p in reply.pending)}{more}."
        if _down(reply):
            text += " A node that is down renews when it comes back (or `node rm` it)."
        text += " `swarm-node ca status` follows the rotation without starting another"
    return text


def _named(pending: Any) -> str:
    """A node a rotation waits for, as "ID (HOSTNAME, STATE)"."""
    return f"{pending.node_id} ({pending.hostname}, {pending.state})"


def _down(reply: Any) -> list[str]:
    """The nodes a rotation waits for that are down, as "ID (HOSTNAME, down)"."""
    return [_named(p) for p in reply.pending if p.state == "down"]


@click.group(cls=Group)
def cluster() -> None:
    """Look at the managers' Raft group (on a manager)."""


def _removed_session(settings: Settings) -> str:
    """What this node's Worker heard if a manager said this node was removed from the swarm, else ""."""
    from swarmnode.actors.control.messages import StatusReply, StatusRequest
    from swarmnode.transport import ControlClient, TransportError

    try:
        with ControlClient(str(settings.control_path), timeout_s=REQUEST_TIMEOUT_S) as client:
            status = client.request("control", StatusRequest())
    except TransportError:
        return ""  # the hint is only a hint: the general one is shown instead
    if not isinstance(status, StatusReply) or status.session != "removed":
        return ""
    return status.session_detail


@cluster.command("status")
@click.pass_obj
def cluster_status(settings: Settings) -> None:
    """Show the Raft members, the leader, the term, the commit index and each member's lag."""
    from swarmnode.actors.control.messages import ClusterStatusRequest
    from swarmnode.actors.messages import to_body

    reply = request(settings, "control", ClusterStatusRequest())
    removed = _removed_session(settings)  # a leader it names came before it was removed
    if settings.output == "json":
        body = to_body(reply)
        for member in body["members"]:  # its progress state says "replicate": it is the leader, as the table says
            if member["node_id"] == reply.leader:
                member["state"] = "leader"
        emit_json(body | {"removed": removed})
        return
    role = f"{reply.role}, out of Raft: its disk is full" if reply.disk_full else reply.role
    click.echo(f"This manager:  {reply.node_id} ({role})")
    none = "(none: this node was removed from the swarm)" if removed else "(none: an election may be under way)"
    if reply.disk_full:
        none = "(unknown: this manager's disk is full)"
    click.echo(f"Leader:        {reply.leader or none}")
    voters = sum(1 for m in reply.members if m.suffrage == "voter")
    if removed:
        click.echo(f"               {removed}")
    elif reply.disk_full:
        click.echo(
            f"               {reply.disk_full}. This manager takes no part in Raft until then, and goes on by itself "
            "once there is room. The swarm goes on without it while a majority of its voters are up and reach "
            "each other: run commands on another manager meanwhile (`cluster status` there shows them)."
        )
    elif not reply.leader and voters:
        _no_leader_steps(reply, voters)
    click.echo(f"Term:          {reply.term}")
    click.echo(f"Commit index:  {reply.commit}    Applied: {reply.applied}")
    click.echo("")
    if reply.members_seen_by != reply.node_id:
        click.echo(f"Members as the leader ({reply.members_seen_by}) sees them:")
    elif reply.role != "leader":
        why = "the leader did not answer" if reply.leader else "no leader is known"
        click.echo(f"Members as this manager sees them ({why}: how far each got is unknown):")
    rows = [
        (
            m.node_id + (" *" if m.node_id == reply.node_id else ""),
            m.addr,
            m.suffrage,
            "leader" if m.node_id == reply.leader else m.state,
            m.reachable or "?",
            m.match if m.match >= 0 else "?",
            m.lag if m.lag >= 0 else "?",
        )
        for m in reply.members
    ]
    click.echo(table(("MEMBER", "ADDRESS", "SUFFRAGE", "STATE", "REACHABILITY", "MATCH", "LAG"), rows))


@click.group(cls=Group)
def actor() -> None:
    """Talk to actors directly (debugging)."""


@actor.command("send")
@click.argument("node_ref", metavar="NODE")
@click.argument("actor_name", metavar="ACTOR")
@click.argument("kind")
@click.argument("body", required=False, default="{}")
@click.pass_obj
def actor_send(settings: Settings, node_ref: str, actor_name: str, kind: str, body: str) -> None:
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
        known = ", ".join(message_kinds())
        raise click.BadParameter(f"unknown message kind {kind!r}; known: {known}", param_hint="KIND")
    schema = message_schema()[kind]
    if isinstance(fields, dict):
        # JSON has no bytes: a string given for a bytes field is taken as its UTF-8 text.
        fields = {k: v.encode() if schema.get(k) == "bytes" and isinstance(v, str) else v for k, v in fields.items()}
    try:
        msg = from_body(kind, fields)
    except CodecError as exc:
        raise click.BadParameter(str(exc), param_hint="BODY") from None
    if node_ref != "self":
        from swarmnode.actors.control import StatusRequest

        me = request(settings, "control", StatusRequest()).node_id
        if node_ref != me:
            fail(
                f"node {node_ref!r} is not this node ({me}); actor send reaches only the local node "
                "(forwarding to other nodes is not built yet)"
            )
    reply = request(settings, actor_name, msg)
    emit_json({"kind": reply.KIND, "body": plain(to_body(reply))})
