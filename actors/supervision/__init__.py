"""Supervision trees on pykka with Erlang/OTP semantics."""

from ._base import (
    START_TIMEOUT_S,
    ActorCrashed,
    ChildExited,
    ChildSpec,
    Link,
    StartFailed,
    SupervisedActor,
    describe,
)
from .actor import (
    ActorStatistics,
    GetStatistics,
    Supervisor,
    SupervisorGaveUp,
    SupervisorStatistics,
)
from .core import ChildState, Restart, Strategy, SupervisorCore
from .registry import Registry

__all__ = [
    "START_TIMEOUT_S",
    "ActorCrashed",
    "ActorStatistics",
    "ChildExited",
    "ChildSpec",
    "ChildState",
    "GetStatistics",
    "Link",
    "Registry",
    "Restart",
    "StartFailed",
    "Strategy",
    "SupervisedActor",
    "Supervisor",
    "SupervisorCore",
    "SupervisorGaveUp",
    "SupervisorStatistics",
    "describe",
]
