"""The CLI refuses bad flags with a usage error that names the value, and never shows a traceback."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from swarmnode.cli.main import cli, normalize_listen


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:2377", "127.0.0.1:2377"),
        ("10.0.0.5", "10.0.0.5:2377"),
        (":4000", "0.0.0.0:4000"),
        ("[::1]:2377", "[::1]:2377"),  # brackets kept: the transport reads "::1:2377" as a host
        ("::1", "[::1]:2377"),
        ("[::]:4000", "[::]:4000"),
    ],
)
def test_listen_addresses_are_normalized(given, expected):
    assert normalize_listen(given) == expected


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("h:x", "'h:x': the port must be a number from 0 to 65535"),
        ("h:70000", "'h:70000': the port must be a number from 0 to 65535"),
        ("[::1", "'\\[::1': missing '\\]' after an IPv6 host"),
    ],
)
def test_bad_listen_addresses_are_named(given, needle):
    with pytest.raises(click.BadParameter, match=needle):
        normalize_listen(given)


def test_unknown_role_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "start", "--role", "king"])
    assert result.exit_code == 2
    assert "'king' is not one of 'manager', 'worker'" in result.output


def test_unknown_output_format_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["--output", "yaml", "status"])
    assert result.exit_code == 2
    assert "'yaml' is not one of 'table', 'json'" in result.output


def test_completion_script_is_printed():
    result = CliRunner().invoke(cli, ["completion", "bash"])
    assert result.exit_code == 0
    assert "_SWARM_NODE_COMPLETE" in result.output


def test_actor_send_refuses_bad_json_before_contacting_a_node(tmp_path):
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "actor", "send", "self", "control", "Ping", "{"])
    assert result.exit_code == 2
    assert "is not JSON" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("node", "-o", "json", "ls"),
        ("ca", "--output", "json", "status"),
        ("cluster", "--state-dir", "/tmp/x", "status"),
    ],
)
def test_a_global_option_given_to_a_group_says_where_it_goes(args):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 2
    option = next(a for a in args if a.startswith("-"))
    assert f"No such option '{option}' here: it is an option of swarm-node itself, given before the command" in (
        result.output
    ), result.output


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--state-dir", "{dir}"),
        ("node", "ls", "-o", "json", "--state-dir", "{dir}"),
        ("--state-dir", "/elsewhere", "join-token", "worker", "--state-dir", "{dir}"),
        ("leave", "--output", "json", "--state-dir", "{dir}"),
    ],
)
def test_a_command_takes_the_global_options_after_its_name_too(args, tmp_path):
    """As `start --state-dir` always did: an operator types `status --state-dir X` after it."""
    result = CliRunner().invoke(cli, [a.replace("{dir}", str(tmp_path)) for a in args])
    assert result.exit_code == 1
    assert f"no node is running with state dir {tmp_path}, which holds no swarm node" in result.output, result.output


def test_an_unknown_option_is_still_named_as_click_names_it():
    result = CliRunner().invoke(cli, ["status", "--bogus"])
    assert result.exit_code == 2 and "No such option '--bogus'" in result.output and "given before" not in result.output
