"""Import every message module of the project, so that the registry knows every kind.

Messages register when their module is imported, and an actor's ``messages.py`` is imported
only when something uses that actor. Tools that need the whole wire contract (the golden
schema test, a schema dump) call :func:`load_all_messages` first.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

__all__ = ["load_all_messages"]

_MESSAGES_MODULE = "messages"


def load_all_messages() -> None:
    """Import every ``messages`` module or package found under ``swarmnode.actors``."""
    for name in _message_module_names():
        importlib.import_module(name)


def _message_module_names() -> list[str]:
    """Return the dotted names of every ``messages`` module or package, sorted.

    ``pkgutil.walk_packages`` imports each package to find its children; an actor package
    that fails to import must fail loudly here rather than drop its messages from the
    contract, hence the ``onerror`` that re-raises.
    """
    from swarmnode import actors

    names = [
        info.name
        for info in pkgutil.walk_packages(actors.__path__, actors.__name__ + ".", onerror=_reraise)
        if info.name.rpartition(".")[2] == _MESSAGES_MODULE
    ]
    return sorted(names)


def _reraise(name: str) -> None:
    exc = sys.exc_info()[1]
    if exc is None:  # walk_packages calls onerror only from an except block
        raise ImportError(f"cannot import package {name}")
    raise exc
