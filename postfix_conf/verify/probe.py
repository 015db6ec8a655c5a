"""The stranger: an SMTP client that tries to relay through one smtpd of the sandbox.

Each :class:`~.plan.Round` is one connection from 127.0.0.1 that first becomes a
client in 203.0.113.0/24 (XCLIENT, or the PROXY header for an smtpd behind
HAProxy), then says EHLO, and gives MAIL FROM and one RCPT TO per address form.
DATA is never sent. When smtpd insists on TLS (530 to MAIL), the client does
STARTTLS, as a stranger would; wrapper-mode services get TLS from the first byte.
The EHLO answer before STARTTLS tells whether AUTH is offered in clear. When AUTH
offers ANONYMOUS, one more round logs in anonymously, which a stranger can do too.

Every answer is kept verbatim; :mod:`.open_relay` decides what it means.
"""

from __future__ import annotations

import base64
import itertools
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .plan import CLIENT_NAME, CLIENT_NET, FORMS, OUTSIDE_DOMAIN, STRANGER, Form, Round

GREETING_TIMEOUT = 10.0  # a healthy smtpd greets within milliseconds; an smtpd that stopped never does
REPLY_TIMEOUT = 30.0  # address verification or a slow table may take a few seconds
_client_numbers = itertools.cycle(range(1, 255))


class ConnectionLost(Exception):
    """smtpd closed the connection (or never greeted); the message has what we know."""


@dataclass(frozen=True)
class Reply:
    code: int
    text: str  # the last line, e.g. "250 2.1.5 Ok"

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


@dataclass
class Attempt:
    """One RCPT TO of the stranger, with smtpd's answer (or the MAIL FROM answer that stopped it)."""

    form: str  # Form.key
    rcpt: str
    sender: str
    helo: str
    why: str  # which round: "empty sender <>", "sender x@y (check_sender_access answers OK for y)"
    reply: str  # "250 2.1.5 Ok", "MAIL FROM: 530 5.7.0 Must issue a STARTTLS command first"
    code: int  # the reply code, 0 when the connection was lost
    tls: bool = False
    auth: str = ""  # "ANONYMOUS" when the round logged in anonymously
    outside: bool | None = None  # the oracle: does smtpd consider this an outside destination?


@dataclass
class Probe:
    """Everything one smtpd answered."""

    greeting: str = ""
    fatal: str = ""  # smtpd stopped (its fatal log line, or what the client saw)
    auth_before_tls: bool | None = None  # AUTH in the EHLO answer before STARTTLS (None: not seen)
    auth_mechanisms: list[str] = field(default_factory=list)
    starttls: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # smtpd's warnings and errors in the sandbox's log


class Session:
    """A minimal SMTP client on a raw socket (smtplib hides the replies we need verbatim)."""

    def __init__(self, port: int, *, wrapper: bool = False, proxy_client: str | None = None,
                 gave_up: Callable[[], str | None] = lambda: None) -> None:
        self.port = port
        self.wrapper = wrapper
        self.proxy_client = proxy_client
        self.gave_up = gave_up
        self.sock: socket.socket | None = None
        self.buf = b""
        self.started = 0.0
        self.timeout = REPLY_TIMEOUT
        self.tls = False
        self.keywords: dict[str, str] = {}

    def open(self) -> Reply:
        """Connect and read the greeting, giving up early when ``gave_up`` knows smtpd will not answer.

        An smtpd that stopped at start-up never greets (the master throttles the service
        and the connection waits in the listen queue), so every wait is in short slices.
        """
        self.started = time.monotonic()
        deadline = self.started + GREETING_TIMEOUT
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=GREETING_TIMEOUT)
        self.sock = sock
        if self.proxy_client is not None:
            sock.sendall(f"PROXY TCP4 {self.proxy_client} 127.0.0.1 40000 {self.port}\r\n".encode())
        sock.settimeout(0.25)
        if self.wrapper:
            self._wrap(deadline)
        return self.reply(deadline, "no greeting")

    def _waited(self, deadline: float, what: str) -> None:
        why = self.gave_up()
        if why or time.monotonic() > deadline:
            raise ConnectionLost(why or f"{what} within {deadline - self.started:.0f}s")

    def _wrap(self, deadline: float | None = None) -> None:
        assert self.sock is not None
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED  # a stranger speaks whatever the server wants
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        self.started = time.monotonic()
        limit = deadline if deadline is not None else self.started + REPLY_TIMEOUT
        try:
            tls = ctx.wrap_socket(self.sock, do_handshake_on_connect=False)
            tls.settimeout(0.25)
            while True:
                try:
                    tls.do_handshake()
                    break
                except TimeoutError:
                    self._waited(limit, "no TLS handshake")
        except (ssl.SSLError, OSError) as exc:
            raise ConnectionLost(f"TLS handshake failed: {exc}") from None
        self.sock = tls
        self.tls = True

    def reply(self, deadline: float, what: str = "no reply") -> Reply:
        """The next (multi-line) reply; waits in short slices so that ``gave_up`` is asked in between."""
        assert self.sock is not None
        while True:
            while b"\n" not in self.buf:
                try:
                    chunk = self.sock.recv(4096)
                except TimeoutError:
                    self._waited(deadline, what)
                    continue
                except (ConnectionResetError, ssl.SSLError) as exc:
                    raise ConnectionLost(f"connection lost: {exc}") from None
                if not chunk:
                    raise ConnectionLost("connection closed by smtpd")
                self.buf += chunk
            raw, _, self.buf = self.buf.partition(b"\n")
            line = raw.decode("utf-8", "replace").rstrip("\r")
            if line[3:4] != "-":
                if not line[:3].isdigit():
                    raise ConnectionLost(f"not an SMTP reply: {line[:80]!r}")
                return Reply(int(line[:3]), line)
            if self._ehlo:
                word, _, rest = line[4:].partition(" ")
                self.keywords[word.upper()] = rest

    _ehlo = False

    def command(self, line: str) -> Reply:
        assert self.sock is not None
        self._ehlo = line.upper().startswith("EHLO ")
        if self._ehlo:
            self.keywords = {}
        self.started = time.monotonic()
        try:
            self.sock.sendall(line.encode() + b"\r\n")
        except OSError as exc:
            raise ConnectionLost(f"connection lost: {exc}") from None
        reply = self.reply(self.started + self.timeout, f"no reply to {line.split(' ', 1)[0]}")
        if self._ehlo and reply.ok:
            word, _, rest = reply.text[4:].partition(" ")
            self.keywords[word.upper()] = rest
        self._ehlo = False
        return reply

    def mechanisms(self) -> list[str]:
        """The SASL mechanisms of the last EHLO answer."""
        return self.keywords.get("AUTH", "").upper().split()

    def starttls(self, helo: str) -> Reply:
        """STARTTLS, the handshake and EHLO again; the first answer that is not a success."""
        reply = self.command("STARTTLS")
        if reply.code != 220:
            return reply
        self._wrap()
        ehlo = self.command(f"EHLO {helo}")  # 421 here: a client certificate was required
        return reply if ehlo.ok else Reply(ehlo.code, f"after STARTTLS: {ehlo.text}")

    def close(self, polite: bool = True) -> None:
        """QUIT (unless the session broke: nobody would answer) and close the socket."""
        if self.sock is not None:
            if polite:
                try:
                    self.timeout = 2.0
                    self.command("QUIT")
                except (ConnectionLost, OSError):
                    pass
            self.sock.close()
            self.sock = None


def run_round(port: int, rnd: Round, own: str, probe: Probe, *, wrapper: bool, haproxy: bool,
              gave_up: Callable[[], str | None], client_net: str = CLIENT_NET, anonymous: bool = False) -> None:
    """One connection: become the stranger, MAIL FROM, one RCPT TO per form; append to ``probe``.

    Each connection comes from another address of ``client_net`` (a /24 outside every
    network the service trusts), so no per-client limit ever counts two rounds together.
    """
    client = f"{client_net}.{next(_client_numbers)}"
    polite = True
    s = Session(port, wrapper=wrapper, proxy_client=client if haproxy else None, gave_up=gave_up)

    def record(form: Form, reply: str, code: int) -> None:
        probe.attempts.append(Attempt(form.key, form.address(own), rnd.sender, rnd.helo, rnd.why, reply, code,
                                      s.tls, "ANONYMOUS" if anonymous else ""))

    try:
        greeting = s.open()
        probe.greeting = probe.greeting or greeting.text
        if greeting.code != 220:
            for form in rnd.forms:
                record(form, f"greeting: {greeting.text}", greeting.code)
            return
        s.command(f"EHLO {own}")
        if not haproxy:
            x = s.command(f"XCLIENT ADDR={client} NAME={CLIENT_NAME}")
            if x.code != 220 and ("authorization" in x.text or x.code in (500, 502)):
                raise ConnectionLost(f"XCLIENT refused: {x.text}")
            if x.code != 220:  # the new greeting for the stranger: rejected at connect (smtpd_delay_reject = no)
                for form in rnd.forms:
                    record(form, f"connect: {x.text}", x.code)
                return
        s.command(f"EHLO {rnd.helo}")
        if not s.tls:
            probe.auth_before_tls = "AUTH" in s.keywords
        probe.starttls = probe.starttls or "STARTTLS" in s.keywords
        if anonymous:  # AUTH may only show after STARTTLS (smtpd_tls_auth_only); a stranger does that too
            if ("ANONYMOUS" not in s.mechanisms() and "STARTTLS" in s.keywords and not s.tls
                    and s.starttls(rnd.helo).code != 220):
                return
            probe.auth_mechanisms = probe.auth_mechanisms or s.mechanisms()
            if "ANONYMOUS" not in s.mechanisms():
                return
            login = s.command("AUTH ANONYMOUS " + base64.b64encode(b"pfedit-verify").decode())
            if login.code != 235:
                for form in rnd.forms:
                    record(form, f"AUTH ANONYMOUS: {login.text}", login.code)
                return
        mail = s.command(f"MAIL FROM:<{rnd.sender}>")
        if mail.code == 530 and not s.tls and "STARTTLS" in s.keywords:
            tls = s.starttls(rnd.helo)
            if tls.code != 220:
                for form in rnd.forms:
                    record(form, f"STARTTLS: {tls.text.removeprefix('after STARTTLS: ')}", tls.code)
                return
            mail = s.command(f"MAIL FROM:<{rnd.sender}>")
        probe.auth_mechanisms = probe.auth_mechanisms or s.mechanisms()
        if not mail.ok:
            for form in rnd.forms:
                record(form, f"MAIL FROM: {mail.text}", mail.code)
            return
        for form in rnd.forms:
            reply = s.command(f"RCPT TO:<{form.address(own)}>")
            record(form, reply.text, reply.code)
        s.command("RSET")
    except ConnectionLost as exc:
        polite = False
        done = {(a.form, a.sender, a.helo) for a in probe.attempts}
        for form in rnd.forms:
            if (form.key, rnd.sender, rnd.helo) not in done:
                record(form, str(exc), 0)
        if not probe.greeting:
            probe.fatal = str(exc)
    except OSError as exc:
        polite = False
        probe.problems.append(f"cannot connect to 127.0.0.1:{port} in the sandbox: {exc}")
    finally:
        s.close(polite)


def ask_oracle(port: int, own: str, forms: tuple[Form, ...] = FORMS) -> dict[str, bool | None]:
    """Form key -> whether smtpd calls it an outside destination ("Relay access denied"); None: no answer."""
    out: dict[str, bool | None] = {f.key: None for f in forms}
    s = Session(port)
    try:
        s.open()
        s.command(f"EHLO {own}")
        if not s.command("MAIL FROM:<>").ok:
            return out
        for form in forms:
            reply = s.command(f"RCPT TO:<{form.address(own)}>")
            if "Relay access denied" in reply.text:
                out[form.key] = True
            elif reply.ok or reply.code >= 500:  # accepted, unknown user, bad syntax: not a relay destination
                out[form.key] = False
    except (ConnectionLost, OSError):
        pass
    finally:
        s.close()
    return out


__all__ = ["OUTSIDE_DOMAIN", "STRANGER", "Attempt", "ConnectionLost", "Probe", "Reply", "Session", "ask_oracle",
           "run_round"]
