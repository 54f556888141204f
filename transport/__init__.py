"""CurveZMQ transport: the only code of swarm-node that imports zmq.

One I/O thread per node owns every socket: the ROUTER on the cluster port (CURVE server, ZAP
answered by the admission hook), one DEALER per peer node, and the local control socket.
"""

from ._control import ControlClient
from ._direct import DirectSender
from ._endpoints import DEFAULT_PORT, bootstrap_address, join_host_port, split_host_port
from ._errors import ConnectionLost, NotSent, RemoteError, RequestTimeout, TransportError
from ._future import ReplyFuture, ReplyStream
from ._keys import generate_keypair
from ._transport import BOOTSTRAP_ROLE, RateLimitedLog, Transport
from ._types import Admission, Identity, Inbound, TransportStatistics

__all__ = [
    "BOOTSTRAP_ROLE",
    "DEFAULT_PORT",
    "Admission",
    "ConnectionLost",
    "ControlClient",
    "DirectSender",
    "Identity",
    "Inbound",
    "NotSent",
    "RateLimitedLog",
    "RemoteError",
    "ReplyFuture",
    "ReplyStream",
    "RequestTimeout",
    "Transport",
    "TransportError",
    "TransportStatistics",
    "bootstrap_address",
    "generate_keypair",
    "join_host_port",
    "split_host_port",
]
