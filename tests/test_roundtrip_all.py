"""Every file we can find goes through every parser and comes back byte for byte.

Each parser is total, so even a file of the wrong kind (a master.cf read as a table)
must round-trip: that is the guarantee a caller relies on when a file is damaged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from postfix_conf.document import Document
from postfix_conf.main_cf import MainCf

from .conftest import FIXTURES, REPO, cases_dir, corpus_dir, need_corpus


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


def files_under(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found.extend(p for p in sorted(root.rglob("*")) if p.is_file() and p.stat().st_size < 4_000_000)
    return found


def round_trip_failures(files: list[Path]) -> list[str]:
    failures = []
    for path in files:
        data = path.read_bytes()
        for kind in parsers():
            if kind.parse(data).to_bytes() != data:
                failures.append(f"{kind.__name__}: {path}")
    return failures


def test_repository_files_round_trip_through_every_parser() -> None:
    """What every checkout has: the shipped examples, the test fixtures (and Postfix's own
    stock files when Postfix is installed)."""
    files = files_under(REPO / "examples", FIXTURES, Path("/usr/share/postfix"))
    assert round_trip_failures(files) == []
    assert len(files) >= 10  # a silent empty glob must not pass


def test_every_file_round_trips_through_every_parser() -> None:
    """The shared corpus and postfix-cases, which live beside the checkout (an optional
    extra: skipped, visibly, when absent; a failure only with CI=true)."""
    corpus = files_under(corpus_dir())
    need_corpus(corpus)
    files = corpus + files_under(cases_dir())
    assert round_trip_failures(files) == []
    assert len(corpus) > 250  # the corpus has 289 files; a silent empty glob must not pass


@pytest.mark.parametrize("name", ["main.cf", "master.cf"])
def test_shipped_examples_have_no_error_diagnostics(name: str) -> None:
    from .conftest import EXAMPLES
    kind = MainCf if name == "main.cf" else next(k for k in parsers() if k.__name__ == "MasterCf")
    doc = kind.read(EXAMPLES / name)
    assert [d for d in doc.diagnostics if d.severity == "error"] == []
