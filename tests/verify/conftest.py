"""Fixtures for ``pfedit verify relay``: certificates, fake DNS and MSAs, config dirs, the command.

Every run of the command gets ``PFEDIT_NAMESERVER`` pointing at the fake DNS server, so no
test ever asks a real DNS server, and relays are on 127.0.0.0/8 only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..e2e.certs import CertFiles, make_certs
from .servers import FakeDns, ProviderMsa, SilentServer

USER = "alice@example.com"
PASSWORD = "Pw-7f3a9c-zq"  # distinctive: a leak shows up as this exact string


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certs(tmp_path_factory.mktemp("verify-certs"))


@pytest.fixture
def fake_dns() -> Iterator[FakeDns]:
    server = FakeDns({("msa.pfedit.test", "A"): ["127.0.0.1"],
                      ("pfedit.test", "MX"): ["10 mx.pfedit.test."],
                      ("mx.pfedit.test", "A"): ["127.0.0.1"]}).start()
    yield server
    server.stop()


@pytest.fixture
def msa(certs: CertFiles) -> Iterator[Callable[..., ProviderMsa]]:
    started: list[ProviderMsa] = []

    def start(**kwargs: Any) -> ProviderMsa:
        server = ProviderMsa(certs, {USER: PASSWORD}, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.stop()


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    argv: list[str]

    def stage(self, name: str) -> str:
        """The output line of one stage (and its fix line, if any)."""
        lines = self.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.split()[:1] == [name]:
                fix = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].lstrip().startswith("fix:") else ""
                return f"{line}\n{fix}".rstrip()
        raise AssertionError(f"no {name} line in:\n{self.stdout}{self.stderr}")

    def failed(self) -> str:
        """The name of the one failed stage."""
        names = [ln.split()[0] for ln in self.stdout.splitlines() if ln.split()[1:2] == ["failed"]]
        assert len(names) == 1, self.stdout + self.stderr
        return names[0]


def write_config(directory: Path, relayhost: str, *, main_extra: str = "", password_map: str | None = None,
                 password: str = PASSWORD, key: str | None = None) -> Path:
    """main.cf (relay with SASL, TLS encrypt) and a 0600 sasl_passwd with one entry."""
    directory.mkdir(parents=True, exist_ok=True)
    passwd = directory / "sasl_passwd"
    (directory / "main.cf").write_text(
        "myhostname = client.pfedit.test\n"
        f"relayhost = {relayhost}\n"
        "smtp_sasl_auth_enable = yes\n"
        f"smtp_sasl_password_maps = hash:{passwd}\n"
        "smtp_sasl_security_options = noanonymous\n"
        "smtp_tls_security_level = encrypt\n" + main_extra)
    fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password_map if password_map is not None else f"{key or relayhost} {USER}:{password}\n")
    return directory


@pytest.fixture
def verify(fake_dns: FakeDns) -> Callable[..., Result]:
    def run(config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 3) -> Result:
        argv = [sys.executable, "-m", "pfedit", "verify", "relay", "--config-dir", str(config),
                "--timeout", str(timeout), *args]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PFEDIT_")}
        full_env["PFEDIT_NAMESERVER"] = fake_dns.address
        full_env.update(env or {})
        proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr, argv)

    return run
