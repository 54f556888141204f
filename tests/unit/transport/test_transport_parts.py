"""The small pure parts: addresses, the ZAP frames, the reply future."""

from __future__ import annotations

import threading

import pytest

from swarmnode.transport import DEFAULT_PORT, ReplyFuture, TransportError
from swarmnode.transport._endpoints import split_host_port, tcp_endpoint
from swarmnode.transport._zap import parse_zap_request, zap_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:4000", ("127.0.0.1", 4000)),
        ("10.0.0.1", ("10.0.0.1", DEFAULT_PORT)),
        ("tcp://host:1", ("host", 1)),
        ("[::1]:2378", ("::1", 2378)),
        ("[::1]", ("::1", DEFAULT_PORT)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_addresses_split_into_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize("text", [":2377", "host:port", "host:70000", "[::1"])
def test_bad_addresses_are_refused_with_the_value(text: str) -> None:
    with pytest.raises(TransportError, match="bad address"):
        split_host_port(text)


def test_ipv6_endpoints_get_brackets() -> None:
    assert tcp_endpoint("::1", 5) == "tcp://[::1]:5"
    assert tcp_endpoint("1.2.3.4", 5) == "tcp://1.2.3.4:5"


def test_a_zap_request_is_parsed_and_answered() -> None:
    request = parse_zap_request([b"1.0", b"7", b"swarmnode", b"10.0.0.2", b"", b"CURVE", b"k" * 32])
    assert (request.request_id, request.address, request.mechanism) == (b"7", "10.0.0.2", "CURVE")
    assert request.credentials == (b"k" * 32,)
    assert zap_reply(b"7", allowed=True, user_id="3", text="OK") == [b"1.0", b"7", b"200", b"OK", b"3", b""]
    assert zap_reply(b"7", allowed=False)[2] == b"400"
    with pytest.raises(ValueError, match=r"not a ZAP 1\.0 request"):
        parse_zap_request([b"2.0", b"7"])


def test_a_future_gives_its_result_to_every_waiter_and_callback() -> None:
    future: ReplyFuture[int] = ReplyFuture()
    seen: list[int] = []
    future.add_done_callback(lambda f: seen.append(f.result()))
    waiters = [threading.Thread(target=lambda: seen.append(future.result(5))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    assert future.set_result(4)
    assert not future.set_result(5)
    for waiter in waiters:
        waiter.join(5)
    assert seen == [4, 4, 4, 4]
    future.add_done_callback(lambda f: seen.append(0))
    assert seen[-1] == 0
    assert future.exception() is None


def test_a_future_raises_its_exception_and_times_out_while_unset() -> None:
    future: ReplyFuture[int] = ReplyFuture()
    with pytest.raises(TimeoutError):
        future.result(0.01)
    assert not future.done()
    future.set_exception(TransportError("gone"))
    assert future.done()
    with pytest.raises(TransportError, match="gone"):
        future.result()
    assert isinstance(future.exception(), TransportError)
