"""SocketPoll: one poll() of the descriptors, and ZMQ_EVENTS read again after each operation.

Real zmq sockets over inproc; the case that matters is a socket whose signal an operation took
while a message waited: a wait must still report it rather than sleep.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import zmq

from swarmnode.transport._poll import SocketPoll, has_input
from tests.support import wait_until

DEADLINE_S = 5.0


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router, dealer = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    router.bind("inproc://poll-test")
    dealer.connect("inproc://poll-test")
    try:
        yield router, dealer
    finally:
        router.close(0)
        dealer.close(0)
        context.term()


def wait_for(poll: SocketPoll, wanted: object) -> list[object]:
    def reported() -> list[object] | None:
        ready = poll.wait(100)
        return ready if wanted in ready else None

    return wait_until(reported, DEADLINE_S, f"{wanted!r} to be reported")


def test_a_message_that_waits_while_a_send_took_the_signal_is_reported(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = pair
    poll = SocketPoll()
    poll.add_socket(dealer)
    assert poll.wait(0) == []
    dealer.send(b"hello")
    poll.touched(dealer)
    routing_id, _ = router.recv_multipart()
    router.send_multipart((routing_id, b"answer"))
    assert wait_for(poll, dealer) == [dealer]
    assert dealer.recv() == b"answer"
    poll.touched(dealer)
    # The answer to a second request arrives; then a send on the dealer takes the signal of it.
    dealer.send(b"again")
    routing_id, _ = router.recv_multipart()
    router.send_multipart((routing_id, b"second"))
    wait_until(lambda: has_input(dealer), DEADLINE_S, "the answer")  # it arrives; asking takes its signal
    dealer.send(b"third")
    poll.touched(dealer)
    started = time.monotonic()
    assert poll.wait(2000) == [dealer]
    assert time.monotonic() - started < 1.0, "the wait slept although a message was waiting"


def test_messages_queued_before_the_socket_is_added_are_reported(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = pair
    dealer.send(b"early")
    wait_until(lambda: has_input(router), DEADLINE_S, "the message")
    poll = SocketPoll()
    poll.add_socket(router)
    assert poll.wait(2000) == [router]


def test_a_plain_descriptor_and_a_removed_socket() -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(zmq.PULL)
    wake = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        poll = SocketPoll()
        poll.add_socket(sock)
        poll.add_fd(wake)
        assert poll.wait(0) == []
        os.eventfd_write(wake, 1)
        assert poll.wait(1000) == [wake]
        poll.remove_socket(sock)
        os.eventfd_read(wake)
        assert poll.wait(0) == []
    finally:
        os.close(wake)
        sock.close(0)
        context.term()


def test_a_socket_that_always_has_more_does_not_hide_the_others() -> None:
    """A flood on one socket (more than its owner reads per wait) must not starve a quiet one."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    busy, flood = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    quiet, knock = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    try:
        busy.bind("inproc://busy")
        flood.connect("inproc://busy")
        quiet.bind("inproc://quiet")
        knock.connect("inproc://quiet")
        for _ in range(200):
            flood.send(b"x")
        poll = SocketPoll()
        poll.add_socket(busy)
        poll.add_socket(quiet)
        assert wait_for(poll, busy) == [busy]
        knock.send(b"hello")
        waits = 0
        ready: list[object] = []
        while quiet not in ready:
            assert waits < 10, f"the quiet socket was not reported in {waits} waits while the busy one had input"
            busy.recv()  # the owner reads one message per wait: 200 keep it busy throughout
            poll.touched(busy)
            ready = poll.wait(1000)
            waits += 1
            assert busy in ready
    finally:
        for sock in (busy, flood, quiet, knock):
            sock.close(0)
        context.term()


def test_a_socket_removed_and_closed_after_it_was_reported_is_ignored(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    """What read a socket may have closed it (a peer disconnected): touching it then is no error."""
    router, dealer = pair
    poll = SocketPoll()
    poll.add_socket(router)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    spare = context.socket(zmq.DEALER)
    try:
        poll.add_socket(spare)
        poll.remove_socket(spare)
        spare.close(0)
        poll.touched(spare)
        dealer.send(b"ping")
        assert wait_for(poll, router) == [router]
    finally:
        spare.close(0)
        context.term()
