"""The distribution maps swarmnode.* onto the top-level folders and lists every subpackage."""

from __future__ import annotations

import configparser
import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOP = {"actors": "swarmnode.actors", "transport": "swarmnode.transport", "cli": "swarmnode.cli"}


def setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg


def test_every_subpackage_folder_is_listed_in_setup_cfg():
    listed = set(setup_cfg()["options"]["packages"].split())
    on_disk = set()
    for folder, package in TOP.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            on_disk.add(".".join([package, *rel.parts]))
    assert on_disk - listed == set(), "add these to setup.cfg [options] packages"
    assert listed - on_disk == set(), "setup.cfg lists packages that do not exist"


def test_package_dir_maps_the_namespace_onto_the_top_level_folders():
    mapping = dict(
        line.split("=", 1) for line in setup_cfg()["options"]["package_dir"].strip().splitlines() if "=" in line
    )
    assert {k.strip(): v.strip() for k, v in mapping.items()} == {v: k for k, v in TOP.items()}


def test_swarmnode_is_a_namespace_with_the_three_subpackages():
    swarmnode = importlib.import_module("swarmnode")
    assert getattr(swarmnode, "__file__", None) is None, "swarmnode must stay a namespace package"
    for package in TOP.values():
        assert importlib.import_module(package).__name__ == package


def test_typed_packages_ship_py_typed():
    assert (REPO / "actors" / "py.typed").exists()
    assert (REPO / "transport" / "py.typed").exists()
