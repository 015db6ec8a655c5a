"""A fake upstream MSA (the provider's submission server) on 127.0.0.1, in a thread.

It behaves like a strict provider: AUTH (PLAIN or LOGIN) is required before MAIL FROM,
AUTH is only offered once the session is encrypted, and credentials are checked.
Every AUTH attempt and every accepted message is recorded with the authenticated
identity, the mechanism and whether the connection was really encrypted. The latter
is read from the connection itself (the transport's ``ssl_object``), not from
aiosmtpd's own bookkeeping, which knows nothing about implicit TLS.

Two variants: ``starttls`` (port 587 style) and ``implicit`` (port 465 style, TLS from
the first byte; aiosmtpd's ``auth_require_tls`` must then be off, since it only tracks
STARTTLS). A third, ``none`` (no TLS at all), exists only so that test_fake_msa.py can
show that an unencrypted session is recorded as such.
"""

from __future__ import annotations

import email
import email.policy
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .certs import CertFiles

TlsMode = Literal["starttls", "implicit", "none"]  # "none": only the fake MSA's own negative control


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """An unprivileged 127.0.0.1 port nobody listens on right now.

    Picked below the kernel's ephemeral range, so that no outgoing connection (which
    gets its local port from that range) can take it before our server binds it.
    """
    low, high = 20000, _ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(low, high) if high - low > 1000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            found: int = s.getsockname()[1]
            return found
    raise RuntimeError("no free port on 127.0.0.1")


@dataclass(frozen=True)
class Login:
    """What the authenticator stores in the session (``AuthResult.auth_data``)."""

    login: str
    mechanism: str


@dataclass(frozen=True)
class AuthAttempt:
    login: str
    mechanism: str
    success: bool
    tls: bool


@dataclass(frozen=True)
class Received:
    """One message the MSA accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None  # the authenticated identity, None if the session was not authenticated
    mechanism: str | None
    tls: bool  # the connection carrying the message was encrypted
    tls_version: str | None
    peer: str

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str | None:
        value = self.message["Message-ID"]
        return None if value is None else str(value)


def _tls_of(server: SMTP) -> tuple[bool, str | None]:
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return False, None
    version = ssl_object.version()
    return True, None if version is None else str(version)


@dataclass
class FakeMsa:
    """Start with :meth:`start`, always :meth:`stop` (the fixture does)."""

    certs: CertFiles = field(repr=False)
    credentials: dict[str, str] = field(repr=False)
    tls: TlsMode = "starttls"
    name: str = "msa.pfedit.test"  # the EHLO name; must differ from Postfix's myhostname (loop check)
    port: int = 0
    received: list[Received] = field(default_factory=list, repr=False)
    # Not "auth_...": aiosmtpd would advertise every handler attribute named auth_X as a mechanism X.
    attempts: list[AuthAttempt] = field(default_factory=list, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _controller: Controller | None = field(default=None, repr=False)

    @property
    def relayhost(self) -> str:
        return f"[127.0.0.1]:{self.port}"

    # -- aiosmtpd callbacks (run in the server thread) ------------------------------------
    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in self.credentials and self.credentials[login] == password
        with self._cond:
            self.attempts.append(AuthAttempt(login, mechanism, ok, _tls_of(server)[0]))
            self._cond.notify_all()
        if not ok:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=Login(login, mechanism))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        auth = session.auth_data
        tls, version = _tls_of(server)
        peer = session.peer
        content = envelope.original_content or b""
        record = Received(
            mail_from=str(envelope.mail_from), rcpt_tos=tuple(envelope.rcpt_tos),
            data=content if isinstance(content, bytes) else content.encode(),
            login=auth.login if isinstance(auth, Login) else None,
            mechanism=auth.mechanism if isinstance(auth, Login) else None,
            tls=tls, tls_version=version, peer=str(peer))
        with self._cond:
            self.received.append(record)
            self._cond.notify_all()
        return "250 2.0.0 OK: recorded by the fake MSA"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, *, attempts: int = 5) -> FakeMsa:
        context = self.certs.server_context()
        last: Exception | None = None
        for _ in range(attempts):  # the free port may be taken between probing and binding
            port = free_port()
            kwargs: dict[str, Any] = {
                "server_hostname": self.name, "authenticator": self._authenticate, "auth_required": True,
                "ready_timeout": 10.0,
            }
            if self.tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
            elif self.tls == "implicit":
                kwargs.update(ssl_context=context, auth_require_tls=False)
            else:
                kwargs.update(auth_require_tls=False)
            controller = Controller(self, hostname="127.0.0.1", port=port, **kwargs)
            try:
                controller.start()
            except OSError as exc:
                last = exc
                controller.stop(no_assert=True)
                continue
            self._controller, self.port = controller, port
            return self
        raise RuntimeError(f"fake MSA could not bind a port: {last}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    # -- waiting ----------------------------------------------------------------------------
    def _wait(self, found: Callable[[], Any], timeout: float, what: str, describe: Callable[[], str],
              give_up: Callable[[], str | None]) -> Any:
        """Poll ``found()`` under the lock until it is not None; AssertionError after ``timeout``
        or as soon as ``give_up()`` names a reason (e.g. Postfix logged the message as deferred)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = found()
                if result is not None:
                    return result
                reason = give_up()
                left = deadline - time.monotonic()
                if reason is not None or left <= 0:
                    why = f"gave up: {reason}" if reason is not None else f"timed out after {timeout:.0f}s"
                    raise AssertionError(f"{self.relayhost} ({self.tls}): no {what}; {why}\n"
                                         f"received {len(self.received)} messages; auth attempts "
                                         f"{self.attempts}\n{describe()}")
                self._cond.wait(min(left, 0.2))

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float, *,
                 describe: Callable[[], str] = lambda: "",
                 give_up: Callable[[], str | None] = lambda: None) -> Received:
        """The first received message matching ``predicate``."""
        got: Received = self._wait(lambda: next((r for r in self.received if predicate(r)), None), timeout,
                                   "matching message", describe, give_up)
        return got

    def wait_for_auth_failure(self, login: str, timeout: float, *,
                              describe: Callable[[], str] = lambda: "") -> AuthAttempt:
        found = lambda: next((a for a in self.attempts if a.login == login and not a.success), None)  # noqa: E731
        got: AuthAttempt = self._wait(found, timeout, f"failed AUTH for {login!r}", describe, lambda: None)
        return got

    def messages_with_id(self, message_id: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.message_id == message_id]
