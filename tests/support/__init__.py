"""Helpers shared by the test suites: waiting on conditions, never sleeping blindly."""

from .waiting import wait_until

__all__ = ["wait_until"]
