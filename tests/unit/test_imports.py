"""Every module imports on its own, as the first module of a fresh interpreter.

An import cycle shows only when a module of the cycle is the first of it to be imported, so a
test suite that imports modules in some fixed order can pass over a cycle that breaks
``python -c "import swarmnode.actors.ca.actor"``. A fresh interpreter per module costs a quarter
of a second each (mostly third-party imports); instead one interpreter loads everything once,
forgets every swarmnode module, and forks a child per module: each child starts with no
swarmnode module loaded, as a fresh interpreter would, and only the third-party modules warm.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOP = {"actors": "swarmnode.actors", "transport": "swarmnode.transport", "cli": "swarmnode.cli"}

IMPORT_EACH_FIRST = """
import importlib, os, sys, traceback

modules = sys.argv[1:]
for name in modules:  # warm the third-party imports; a cycle is reported by the children below
    try:
        importlib.import_module(name)
    except Exception:
        pass
for loaded in [m for m in sys.modules if m == "swarmnode" or m.startswith("swarmnode.")]:
    del sys.modules[loaded]
failed = []
for name in modules:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            print(f"--- importing {name} first fails:", file=sys.stderr)
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        failed.append(name)
print(" ".join(failed))
"""


def project_modules() -> list[str]:
    """Return the dotted name of every module of the three top-level packages, sorted."""
    names = []
    for folder, package in TOP.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join([package, *parts]))
    return sorted(names)


def test_every_module_imports_first_in_a_fresh_interpreter():
    modules = project_modules()
    assert "swarmnode.actors.ca.actor" in modules
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_FIRST, *modules], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    failed = result.stdout.split()
    assert failed == [], f"these modules fail when imported first: {failed}\n{result.stderr}"
