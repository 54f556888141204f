"""The Leader group: the actors that run only on the manager that leads (DESIGN.md)."""

from .actor import LeaderGroup

__all__ = ["LeaderGroup"]
