"""Shared fixtures: the real Postfix binaries, the shared corpus, Hypothesis profiles.

Tests that need Postfix skip with a visible reason when it is missing, and fail
instead when ``PFEDIT_REQUIRE_POSTFIX=1`` (CI sets it). Every postconf/postmap call
goes through :func:`run_postfix_tool`, which always passes ``-c <tmpdir>``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "examples" / "etc-postfix"
FIXTURES = HERE / "fixtures"

POSTCONF = shutil.which("postconf") or ("/usr/sbin/postconf" if Path("/usr/sbin/postconf").exists() else None)
POSTMAP = shutil.which("postmap") or ("/usr/sbin/postmap" if Path("/usr/sbin/postmap").exists() else None)
REQUIRE_POSTFIX = os.environ.get("PFEDIT_REQUIRE_POSTFIX") == "1"


def corpus_dir() -> Path:
    return Path(os.environ.get("PFEDIT_CORPUS", SHARED / "corpus"))


def cases_dir() -> Path:
    return Path(os.environ.get("PFEDIT_CASES", SHARED / "postfix-cases"))


def corpus_files(kind: str) -> list[Path]:
    """Files of one corpus kind (``main.cf``, ``master.cf``, ``tables``); [] if absent."""
    d = corpus_dir() / kind
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


def need_corpus(files: list[Path]) -> None:
    """Skip visibly without the shared corpus; in CI its absence is a failure."""
    if not files:
        msg = f"shared corpus not found at {corpus_dir()} (set PFEDIT_CORPUS)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def need_postfix(tool: str | None = POSTCONF) -> str:
    if tool is None:
        msg = "Postfix binaries (postconf/postmap) not installed"
        if REQUIRE_POSTFIX:
            pytest.fail(msg + " but PFEDIT_REQUIRE_POSTFIX=1")
        pytest.skip(msg)
    return tool


def run_postfix_tool(args: list[str], *, input: bytes | None = None,
                     check: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run postconf/postmap with a scrubbed environment (no MAIL_CONFIG leaking in)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAIL_CONFIG",)}
    env["LANG"] = "C"
    return subprocess.run(args, input=input, capture_output=True, env=env, check=check, timeout=60)


def make_config_dir(d: Path, main_cf: bytes = b"", master_cf: bytes | None = None) -> Path:
    """A throw-away config dir for ``postconf -c``; files back-dated (spec 2.8)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "main.cf").write_bytes(main_cf)
    (d / "master.cf").write_bytes(master_cf if master_cf is not None else b"")
    backdate(d / "main.cf")
    backdate(d / "master.cf")
    return d


def backdate(path: Path) -> None:
    """Postfix re-reads a main.cf touched within the last second (spec 2.8)."""
    os.utime(path, (978307200, 978307200))


@pytest.fixture
def postconf() -> str:
    return need_postfix(POSTCONF)


@pytest.fixture
def postmap() -> str:
    return need_postfix(POSTMAP)


@pytest.fixture
def config_dir(tmp_path: Path) -> Iterator[Path]:
    """A copy of the shipped example config dir."""
    d = tmp_path / "etc-postfix"
    shutil.copytree(EXAMPLES, d)
    yield d
