"""Fake peers on 127.0.0.1 for ``pfedit verify relay``: DNS, provider MSAs, silent and closed ports.

Everything binds to loopback addresses only and is stopped by the fixtures. The MSAs
extend the e2e :class:`FakeMsa` with the provider behaviours the issue lists: an
application-password 534, a server that echoes the credentials in its error reply, and
one that refuses any envelope sender but the authenticated user.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ..e2e.fake_msa import FakeMsa, Login


class FakeDns:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP): ``records[(name, type)] = [rdata, ...]``.

    Names that appear in no record get NXDOMAIN; known names without the asked type get
    an empty NOERROR answer (what smtp(8) treats as "no MX: use the name itself").
    """

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = {(n.lower().rstrip("."), t.upper()): v for (n, t), v in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.queries: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeDns:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().lower().rstrip(".")
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            values = self.records.get((name, rdtype))
            if values:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, *values))
            elif not any(n == name for n, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)


def proc_cmdlines() -> dict[int, bytes]:
    """argv of every process on the machine (NUL-separated, as /proc shows it)."""
    out: dict[int, bytes] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
                out[int(entry)] = f.read()
    return out


@dataclass
class ProviderMsa(FakeMsa):
    """A FakeMsa with a provider's quirks (``auth_reply`` replaces the 535 of a failed login)."""

    auth_reply: str | None = None  # e.g. "534 5.7.9 Application-specific password required"
    echo_credentials: bool = False  # put what the client sent into the error reply
    own_sender_only: bool = False  # 553 for any MAIL FROM other than the authenticated login
    argv_seen: list[dict[int, bytes]] = field(default_factory=list, repr=False)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        self.argv_seen.append(proc_cmdlines())  # the client is connected and waiting right now
        result = super()._authenticate(server, session, envelope, mechanism, auth_data)
        if result.success:
            return result
        if self.echo_credentials:
            assert isinstance(auth_data, LoginPassword)
            login, password = auth_data.login.decode(), auth_data.password.decode()
            return AuthResult(success=False, handled=False,
                              message=f"535 5.7.8 Authentication failed for {login} with password {password}")
        if self.auth_reply is not None:
            return AuthResult(success=False, handled=False, message=self.auth_reply)
        return result

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        auth = session.auth_data
        if self.own_sender_only and (not isinstance(auth, Login) or auth.login != address):
            return f"553 5.7.1 <{address}>: Sender address rejected: not owned by the authenticated user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self.accepted:
            c.close()
        self.sock.close()
