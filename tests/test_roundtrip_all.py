"""Every file we can find goes through every parser and comes back byte for byte.

Each parser is total, so even a file of the wrong kind (a master.cf read as a table)
must round-trip: that is the guarantee a caller relies on when a file is damaged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from postfix_conf.document import Document
from postfix_conf.main_cf import MainCf

from .conftest import cases_dir, corpus_dir, need_corpus


def parsers() -> list[type[Document]]:
    kinds: list[type[Document]] = [MainCf]
    try:
        from postfix_conf.master_cf import MasterCf
        kinds.append(MasterCf)
    except ImportError:  # pragma: no cover - during development only
        pass
    try:
        from postfix_conf.table import LookupTable
        kinds.append(LookupTable)
    except ImportError:  # pragma: no cover
        pass
    return kinds


def all_files() -> list[Path]:
    found: list[Path] = []
    for root in (corpus_dir(), cases_dir(), Path("/usr/share/postfix")):
        if root.is_dir():
            found.extend(p for p in sorted(root.rglob("*")) if p.is_file() and p.stat().st_size < 4_000_000)
    return found


def test_every_file_round_trips_through_every_parser() -> None:
    files = all_files()
    need_corpus(files)
    failures = []
    for path in files:
        data = path.read_bytes()
        for kind in parsers():
            if kind.parse(data).to_bytes() != data:
                failures.append(f"{kind.__name__}: {path}")
    assert failures == []
    assert len(files) > 250  # corpus (287) + cases; a silent empty glob must not pass


@pytest.mark.parametrize("name", ["main.cf", "master.cf"])
def test_shipped_examples_have_no_error_diagnostics(name: str) -> None:
    from .conftest import EXAMPLES
    kind = MainCf if name == "main.cf" else next(k for k in parsers() if k.__name__ == "MasterCf")
    doc = kind.read(EXAMPLES / name)
    assert [d for d in doc.diagnostics if d.severity == "error"] == []
