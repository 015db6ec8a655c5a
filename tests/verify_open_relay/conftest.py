"""Fixtures for ``pfedit verify open-relay``: configurations to probe, and where the sandbox goes.

The tests run the command (Typer's CliRunner in-process, or ``python -m pfedit`` when
a signal has to be sent) against configuration directories written here by hand.
Like tests/e2e, they skip with the reason when the machine cannot run a Postfix
master (not root, no network namespaces, Postfix missing) and fail instead under
``PFEDIT_REQUIRE_POSTFIX=1``.

``sandbox_parent`` points the command's temporary directory at a directory of the
test's own, so a test can see that the throw-away instance left nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pfedit.main import app

from ..conftest import REQUIRE_POSTFIX, backdate
from ..e2e.certs import CertFiles, make_certs
from ..e2e.conftest import e2e_problems

STOCK_MASTER = Path("/usr/share/postfix/master.cf.dist")
HOSTNAME = "mx.verify.example"
# Debian's main.cf after installation ("Internet Site"), with this test's host name and certificate.
BASE_MAIN = """\
compatibility_level = 3.6
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtp_tls_security_level = may
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = mx.verify.example
alias_maps =
alias_database =
mydestination = $myhostname, localhost
relayhost =
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all
"""


def verify_problems() -> list[str]:
    from postfix_conf.verify.instance import problems

    return e2e_problems() + [p for p in problems() if p not in e2e_problems()]


def need_verify() -> None:
    found = verify_problems()
    if found:
        msg = "pfedit verify open-relay cannot run here: " + "; ".join(found)
        if REQUIRE_POSTFIX:
            pytest.fail(msg + " but PFEDIT_REQUIRE_POSTFIX=1")
        pytest.skip(msg)


@pytest.fixture(scope="session")
def verify_root() -> Iterator[Path]:
    """Mode 0755: smtpd (the mail owner) reads the test's certificates and tables below it."""
    need_verify()
    root = Path(tempfile.mkdtemp(prefix="pfedit-verify-tests-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(verify_root: Path) -> CertFiles:
    return make_certs(verify_root / "certs")


@pytest.fixture
def sandbox_parent(verify_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that the command (in this process) makes its sandbox in."""
    d = Path(tempfile.mkdtemp(prefix="sb-", dir=verify_root))  # short: socket paths have 108 bytes
    d.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def service(self, label: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = [s for s in self.report["services"] if s["service"] == label]
        assert len(found) == 1, f"{label}: {[s['service'] for s in self.report['services']]}"
        return found[0]


ConfigFactory = Callable[..., Path]


@pytest.fixture
def make_config(verify_root: Path, certs: CertFiles) -> ConfigFactory:
    """``make_config(main_extra, master=None)``: Debian's main.cf + ``main_extra``; master.cf: the stock one."""
    def make(main_extra: str = "", master: str | None = None, base: str = BASE_MAIN) -> Path:
        d = Path(tempfile.mkdtemp(prefix="config-", dir=verify_root))
        d.chmod(0o755)
        main = base.format(cert=certs.cert_file, key=certs.key_file) + main_extra
        (d / "main.cf").write_text(main)
        (d / "master.cf").write_text(master if master is not None else STOCK_MASTER.read_text())
        backdate(d / "main.cf")
        backdate(d / "master.cf")
        return d
    return make


def run_verify(config_dir: Path, *extra: str, json_output: bool = True) -> Result:
    """``pfedit verify open-relay -c DIR [--json]`` through Typer's runner."""
    args = ["verify", "open-relay", "-c", str(config_dir), *(["--json"] if json_output else []), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def instance_processes(parent: Path) -> list[str]:
    """Processes whose MAIL_CONFIG points below ``parent`` (a throw-away instance's daemons)."""
    marker = os.fsencode(f"MAIL_CONFIG={parent}/")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2:].split()[0] != "Z" and any(
                v.startswith(marker) for v in environ.split(b"\0")):
            found.append(f"{entry} {stat[stat.index('(') + 1:stat.rindex(')')]}")
    return found
