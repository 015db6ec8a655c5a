"""The library's layers point one way: a module imports only its own layer and the ones below.

text -> file primitives -> documents -> transactions -> maps/views -> pipeline/recipes ->
check/verify. Read from the source (every runtime import, also inside functions; imports
under ``if TYPE_CHECKING:`` are for annotations only and do not count).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

LIBRARY = REPO / "postfix_conf"
LAYERS: list[tuple[str, ...]] = [
    ("_text", "lines", "macros", "errors", "secrets", "relayhost", "data", "paths"),  # text and Postfix facts
    ("_file_errors", "_lock", "_fingerprint", "_staging", "_writer"),  # bytes on disk
    ("document", "main_cf", "_main_params", "master_cf", "_master_tokens", "_master_layout", "_master_edit",
     "_master_disabled",
     "table"),  # documents
    ("_transaction", "files"),  # several files at once
    ("maps", "view"),  # what the configuration means
    ("items", "planner", "state", "pipeline", "postfix_tools", "recipes"),  # desired state, the one way to write it
    ("check", "verify"),  # reasoning about, and proving, a configuration
]


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for n, names in enumerate(LAYERS):
        if top in names:
            return n
    if top == "__init__":
        return len(LAYERS)  # the package's face may name anything (lazily)
    raise AssertionError(f"postfix_conf.{module} is in no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    rel = path.relative_to(LIBRARY).with_suffix("")
    return ".".join(rel.parts)


def runtime_imports(path: Path) -> list[str]:
    """postfix_conf modules imported by ``path`` (relative imports resolved), TYPE_CHECKING excluded."""
    tree = ast.parse(path.read_bytes())
    package = module_name(path).split(".")[:-1]  # check/relay.py -> check; check/__init__.py -> check
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if node.module is None:
                    found += [".".join([*target, a.name]) for a in node.names]
                else:
                    found.append(".".join(target))
            elif node.module and node.module.startswith("postfix_conf"):
                found.append(node.module.removeprefix("postfix_conf").lstrip("."))
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("postfix_conf.") for a in node.names if a.name.startswith("postfix_conf.")]
    return [f for f in found if f and f != "__init__"]


SOURCES = sorted(p for p in LIBRARY.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_imports_point_down(path: Path) -> None:
    here = module_name(path)
    mine = layer_of(here)
    upward = [m for m in runtime_imports(path) if layer_of(m) > mine]
    assert upward == [], f"postfix_conf.{here} (layer {mine}) imports from higher layers: {upward}"


def test_importing_the_library_runs_nothing_heavy() -> None:
    code = ("import sys, postfix_conf, postfix_conf.main_cf; "
            "bad = [m for m in ('subprocess', 'typer', 'click', 'ctypes', 'importlib.resources', 'pfedit') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
