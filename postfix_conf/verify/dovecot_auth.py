"""A stand-in for Dovecot's auth socket: mechanisms PLAIN and LOGIN, every login refused.

smtpd with ``smtpd_sasl_type = dovecot`` asks the auth server for its mechanisms
when a client says EHLO and stops with "fatal: no SASL authentication mechanisms"
if the socket is missing. In the throw-away instance the user's Dovecot is not
there (its socket lives in the running Postfix's queue directory, which the
sandbox must not touch), so smtpd talks to this stand-in instead. The probe never
logs in; the mechanism list only decides whether AUTH is advertised, which is
what the report says. Protocol: Dovecot auth protocol 1.x, the server half of the
handshake (VERSION, MECH, SPID, CUID, COOKIE, DONE) and FAIL for any AUTH.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from pathlib import Path

MECHANISMS = ("PLAIN", "LOGIN")


class DovecotStandIn:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> DovecotStandIn:
        self.path.parent.mkdir(mode=0o755, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o666)  # smtpd connects as the mail owner
        sock.listen(16)
        self._sock = sock
        t = threading.Thread(target=self._accept, name="pfedit-dovecot-standin", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self) -> None:
        assert self._sock is not None
        cuid = 0
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            cuid += 1
            with self._lock:
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn, cuid), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket, cuid: int) -> None:
        mechs = "".join(f"MECH\t{m}\tplaintext\n" for m in MECHANISMS)
        hello = f"VERSION\t1\t2\n{mechs}SPID\t{os.getpid()}\nCUID\t{cuid}\nCOOKIE\t{secrets.token_hex(16)}\nDONE\n"
        with contextlib.suppress(OSError), conn, conn.makefile("rwb") as f:
            f.write(hello.encode())
            f.flush()
            for raw in f:
                fields = raw.decode("utf-8", "replace").rstrip("\n").split("\t")
                if fields[0] == "AUTH" and len(fields) > 1:
                    f.write(f"FAIL\t{fields[1]}\treason=pfedit verify: no login in the sandbox\n".encode())
                    f.flush()

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(timeout=2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
