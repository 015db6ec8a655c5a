"""Fixtures for the end-to-end tests: certificates, fake MSAs, throw-away Postfix instances.

They skip with the reason when the machine cannot run them (not root, Postfix or a
helper missing) and fail instead when ``PFEDIT_REQUIRE_POSTFIX=1`` (as in CI). Every
instance and fake MSA a test starts is stopped in the fixture's finalizer, also
when the test fails; Postfix's log is part of every failure message.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postfix_conf.postfix_tools import find_tool

from ..conftest import REQUIRE_POSTFIX
from .certs import CertFiles, make_certs
from .fake_msa import FakeMsa, TlsMode, free_port
from .postfix_instance import TOOLS, Base, PostfixInstance

KEEP = os.environ.get("PFEDIT_E2E_KEEP") == "1"  # keep the instance directories for a post-mortem
E2E_MARKER = "e2e: end to end: throw-away Postfix instances and fake MSAs on 127.0.0.1 (tests/e2e)"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker here too, so --strict-markers passes before pyproject.toml lists it."""
    config.addinivalue_line("markers", E2E_MARKER)


def e2e_problems(extra_tools: tuple[str, ...] = ()) -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root (the Postfix master daemon must start as root)")
    missing = [t for t in (*TOOLS, *extra_tools) if find_tool(t) is None]
    if missing:
        problems.append(f"missing programs: {', '.join(missing)}")
    for kind, name, lookup in (("user", "postfix", pwd.getpwnam), ("group", "postfix", grp.getgrnam),
                               ("group", "postdrop", grp.getgrnam)):
        try:
            lookup(name)
        except KeyError:
            problems.append(f"no {kind} {name!r} (mail_owner / setgid_group)")
    for path in ("/usr/share/postfix/main.cf.debian", "/usr/share/postfix/main.cf.tls",
                 "/usr/share/postfix/master.cf.dist"):
        if not os.path.exists(path):
            problems.append(f"{path} missing (Debian's postfix package)")
    return problems


def need_e2e(extra_tools: tuple[str, ...] = ()) -> None:
    """Skip visibly when the machine cannot run a real Postfix; fail under PFEDIT_REQUIRE_POSTFIX=1."""
    problems = e2e_problems(extra_tools)
    if problems:
        msg = "end-to-end Postfix tests cannot run: " + "; ".join(problems)
        if REQUIRE_POSTFIX:
            pytest.fail(msg + " but PFEDIT_REQUIRE_POSTFIX=1")
        pytest.skip(msg)


@pytest.fixture(scope="session")
def e2e_root() -> Iterator[Path]:
    """A directory every Postfix daemon (running as the postfix user) can traverse.

    pytest's own temp directories are mode 0700, and smtpd opens the sasldb and
    postlogd its log file below this root.
    """
    need_e2e()
    root = Path(tempfile.mkdtemp(prefix="pfedit-e2e-"))
    os.chmod(root, 0o755)
    yield root
    if not KEEP:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(e2e_root: Path) -> CertFiles:
    return make_certs(e2e_root / "certs")


MsaFactory = Callable[..., FakeMsa]
PostfixFactory = Callable[..., PostfixInstance]


@pytest.fixture
def start_msa(certs: CertFiles) -> Iterator[MsaFactory]:
    """``start_msa(credentials, tls="starttls"|"implicit")``: a running fake MSA, stopped afterwards."""
    started: list[FakeMsa] = []

    def start(credentials: dict[str, str], tls: TlsMode = "starttls", name: str = "msa.pfedit.test") -> FakeMsa:
        msa = FakeMsa(certs, dict(credentials), tls=tls, name=name)
        started.append(msa)
        return msa.start()

    try:
        yield start
    finally:
        for msa in reversed(started):
            msa.stop()


@pytest.fixture
def postfix_instance(e2e_root: Path, certs: CertFiles, request: pytest.FixtureRequest) -> Iterator[PostfixFactory]:
    """``postfix_instance(base="debian")``: a configured, not yet started instance.

    The finalizer stops every instance (``postfix stop``, then SIGKILL for each of its
    processes still alive) whether the test passed or not, and fails the test if one
    survives.
    """
    made: list[PostfixInstance] = []

    def create(base: Base = "debian") -> PostfixInstance:
        root = Path(tempfile.mkdtemp(prefix=f"{request.node.name[:40]}-".replace("/", "_"), dir=e2e_root))
        inst = PostfixInstance.create(root, certs, free_port(), base)
        made.append(inst)
        return inst

    try:
        yield create
    finally:
        errors = []
        for inst in reversed(made):
            try:
                leftovers = inst.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{inst.root}: {exc!r}")
                continue
            if leftovers:
                errors.append(f"{inst.root}: processes left after stop: {leftovers}")
        if errors:
            pytest.fail("could not stop Postfix cleanly:\n" + "\n".join(errors))
