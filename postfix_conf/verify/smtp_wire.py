"""A minimal SMTP client connection: commands, multi-line replies, STARTTLS, and a deadline.

smtplib is not used because the probe needs what it hides: a greeting read under its own
deadline (to tell "never greets" from "speaks TLS first"), the raw TLS socket for the
certificate, mechanisms smtplib lacks (SCRAM, DIGEST-MD5), and full control over what is
sent, so that no credential can end up in an exception message.

Every read is bounded by the deadline of the current stage, so a server that sends one
byte a second cannot stretch a stage beyond its timeout.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from dataclasses import dataclass

MAX_LINE = 4096
MAX_LINES = 200


class WireError(Exception):
    """The connection failed (closed, timed out, garbage); the message is safe to show."""


class WireTimeout(WireError):
    pass


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]  # the text after "NNN-" / "NNN " of each line

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class Connection:
    """One SMTP session over a connected socket (plain or TLS)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock: socket.socket = sock
        self.deadline = deadline
        self._buf = bytearray()

    def set_deadline(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise WireTimeout("timed out")
        return left

    def _readline(self) -> bytes:
        while b"\n" not in self._buf:
            if len(self._buf) > MAX_LINE:
                raise WireError("reply line too long")
            left = self._left()
            try:
                self.sock.settimeout(left)
                chunk = self.sock.recv(4096)
            except TimeoutError as exc:
                raise WireTimeout("timed out") from exc
            except ssl.SSLError as exc:
                raise WireError(f"TLS error: {exc.reason or exc}") from exc
            except OSError as exc:
                raise WireError(exc.strerror or str(exc)) from exc
            if not chunk:
                raise WireError("the server closed the connection")
            self._buf += chunk
        line, _, rest = bytes(self._buf).partition(b"\n")
        self._buf = bytearray(rest)
        return line.rstrip(b"\r")

    def read_reply(self) -> Reply:
        lines: list[str] = []
        code = 0
        for _ in range(MAX_LINES):
            raw = self._readline()
            text = raw.decode("utf-8", "replace")
            if len(text) < 3 or not text[:3].isdigit() or text[3:4] not in ("", " ", "-"):
                shown = text[:60] if text.isprintable() else repr(raw[:20])
                raise WireError(f"not an SMTP reply: {shown}")
            code = int(text[:3])
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(code, tuple(lines))
        raise WireError("reply has too many lines")

    def send(self, line: str) -> None:
        left = self._left()
        try:
            self.sock.settimeout(left)
            self.sock.sendall(line.encode("utf-8", "surrogateescape") + b"\r\n")
        except TimeoutError as exc:
            raise WireTimeout("timed out") from exc
        except OSError as exc:
            raise WireError(exc.strerror or str(exc)) from exc

    def send_raw(self, data: bytes) -> None:
        left = self._left()
        try:
            self.sock.settimeout(left)
            self.sock.sendall(data)
        except OSError as exc:
            raise WireError(exc.strerror or str(exc)) from exc

    def command(self, line: str) -> Reply:
        self.send(line)
        return self.read_reply()

    def start_tls(self, context: ssl.SSLContext, server_name: str | None) -> ssl.SSLSocket:
        """Wrap the socket (after a 220 to STARTTLS, or at once in wrapper mode)."""
        if self._buf:
            raise WireError("the server sent data before the TLS handshake (possible STARTTLS injection)")
        self.sock.settimeout(self._left())
        tls = context.wrap_socket(self.sock, server_hostname=server_name or None)
        self.sock = tls
        return tls

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
