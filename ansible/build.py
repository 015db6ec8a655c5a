#!/usr/bin/env python3
"""Build the ``pfedit.postfix`` collection with the ``postfix_conf`` library bundled.

    python ansible/build.py                        # -> ansible/dist/pfedit-postfix-<version>.tar.gz
    python ansible/build.py --output-dir DIR       # the tarball goes to DIR
    python ansible/build.py --install DIR          # ... and is installed into DIR (a collections path)
    python ansible/build.py --tree DIR             # keep DIR/ansible_collections/pfedit/postfix (ansible-test)

The managed host needs nothing but Python 3.11+: ``postfix_conf`` is standard-library
only, so it is copied into ``plugins/module_utils/postfix_conf`` and Ansible ships it
with every module run (AnsiballZ), imported as
``ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf``. The library
keeps its Postfix facts in Python modules, which AnsiballZ ships like any other code.
Nothing is written into the source tree: everything is staged in a temporary
``ansible_collections/pfedit/postfix`` tree (or ``--tree``).
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LIBRARY = REPO / "postfix_conf"
NAMESPACE, NAME = "pfedit", "postfix"
SOURCES = ("galaxy.yml", "README.md", "meta", "plugins", "tests")
BUNDLED = Path("plugins", "module_utils", "postfix_conf")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache")


def collection_version() -> str:
    match = re.search(r"^version:\s*(\S+)", (HERE / "galaxy.yml").read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit("ansible/galaxy.yml has no version")
    return match.group(1)


def library_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def stage(tree: Path) -> Path:
    """Copy the collection and the library into ``tree/ansible_collections/pfedit/postfix``."""
    root = tree / "ansible_collections" / NAMESPACE / NAME
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for name in SOURCES:
        src = HERE / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=_IGNORE)
        elif src.is_file():
            shutil.copy2(src, root / name)
    bundled = root / BUNDLED
    if bundled.exists():  # a developer's in-place copy (git-ignored) never wins over the library
        shutil.rmtree(bundled)
    shutil.copytree(LIBRARY, bundled, ignore=_IGNORE)
    extra = library_ignores(root)
    for ignore in sorted((root / "tests" / "sanity").glob("ignore-*.txt")):
        with ignore.open("a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in extra)
    return root


def library_ignores(root: Path) -> list[str]:
    """ansible-test ignore lines for the bundled library (its asserts are tested by pfedit's own suite)."""
    lines = []
    for path in sorted((root / BUNDLED).rglob("*.py")):
        if any(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(path.read_bytes()))):
            lines.append(f"{path.relative_to(root)} no-assert # bundled postfix_conf, tested by pfedit's suite")
    return lines


def ansible_galaxy() -> str:
    candidate = Path(sys.executable).parent / "ansible-galaxy"
    found = str(candidate) if candidate.exists() else shutil.which("ansible-galaxy")
    if found is None:
        raise SystemExit("ansible-galaxy not found; pip install ansible-core")
    return found


def build(output_dir: Path, tree: Path | None = None) -> Path:
    """Stage and build; return the tarball's path."""
    version = collection_version()
    if version != library_version():
        raise SystemExit(f"ansible/galaxy.yml version {version} != pyproject.toml version {library_version()}")
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pfedit-collection-") as scratch:
        root = stage(tree if tree is not None else Path(scratch))
        subprocess.run([ansible_galaxy(), "collection", "build", str(root), "--output-path", str(output_dir),
                        "--force"], check=True, stdout=subprocess.DEVNULL)
    tarball = output_dir / f"{NAMESPACE}-{NAME}-{version}.tar.gz"
    if not tarball.is_file():
        raise SystemExit(f"ansible-galaxy did not write {tarball}")
    return tarball


def install(tarball: Path, collections_path: Path) -> Path:
    """Install the tarball (no network: the collection has no dependencies)."""
    subprocess.run([ansible_galaxy(), "collection", "install", str(tarball), "-p", str(collections_path),
                    "--force"], check=True, stdout=subprocess.DEVNULL)
    return collections_path / "ansible_collections" / NAMESPACE / NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--output-dir", type=Path, default=HERE / "dist", help="where the tarball goes")
    parser.add_argument("--install", type=Path, metavar="DIR", help="also install into this collections path")
    parser.add_argument("--tree", type=Path, metavar="DIR",
                        help="stage into DIR/ansible_collections/pfedit/postfix and keep it")
    args = parser.parse_args(argv)
    os.environ.setdefault("ANSIBLE_NOCOLOR", "1")
    tarball = build(args.output_dir, args.tree)
    print(tarball)
    if args.install is not None:
        print(install(tarball, args.install))
    return 0


if __name__ == "__main__":
    sys.exit(main())
