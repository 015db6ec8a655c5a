"""The SMTP part of the probe: greeting, TLS, EHLO, AUTH, a test message, QUIT.

Order and decisions follow ``smtp_helo()`` in src/smtp/smtp_proto.c (Postfix 3.7):
wrapper mode starts TLS before the greeting; otherwise STARTTLS is sent when the server
offers it and the level is ``may`` or stronger, a missing STARTTLS is fatal from
``encrypt`` up, and after TLS the EHLO is repeated and only its AUTH list counts. The
SASL security options in force depend on the session: none without TLS,
``smtp_sasl_tls_security_options`` with TLS, ``..._verified_...`` once the peer is
verified (``smtp_sasl_start()``).

A mismatch of TLS mode and port is named, not just reported as a timeout: on a silent
STARTTLS session we try a TLS handshake, and on a failed wrapper handshake a plain
greeting, each on a fresh connection, and say which mode the port expects.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import socket
import ssl
import time
from email.message import EmailMessage
from pathlib import Path

from ..relayhost import Destination
from . import certificate as certs
from .cert_levels import check_level
from .client_settings import ClientSettings, Credentials
from .diagnose import (
    auth_failure,
    mask,
    no_auth_offered,
    recipient_failure,
    relay_auth_command,
    secret_forms,
    sender_failure,
)
from .relay_probe import FAILED, PASSED, SKIPPED, Stage, Target
from .sasl_client import (
    CLEARTEXT,
    SUPPORTED,
    conversation,
    cyrus_choice,
    default_plugin_dirs,
    filter_mechanisms,
    installed_mechanisms,
    security_flags,
)
from .smtp_wire import Connection, Reply, WireError, WireTimeout

MANDATORY = frozenset({"encrypt", "dane-only", "fingerprint", "verify", "secure"})


class _Failed(Exception):
    """A stage failed; it has been recorded."""


class _Probe:
    def __init__(self, settings: ClientSettings, dest: Destination, target: Target, timeout: float,
                 stages: list[Stage]) -> None:
        self.s, self.dest, self.target, self.timeout, self.stages = settings, dest, target, timeout, stages
        self.tls = False
        self.verified = False
        self.creds: Credentials | None = settings.credentials_for(dest, target.host)
        self.secrets = secret_forms(self.creds.password, self.creds.username) if self.creds else []
        self.user = self.creds.username if self.creds else None
        self.conn: Connection | None = None

    # -- helpers ---------------------------------------------------------------------
    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.stages.append(Stage(name, status, mask(detail, self.secrets), mask(fix, self.secrets)))

    def fail(self, name: str, detail: str, fix: str = "") -> _Failed:
        self.add(name, FAILED, detail, fix)
        return _Failed()

    def stage(self) -> Connection:
        assert self.conn is not None
        self.conn.set_deadline(self.timeout)
        return self.conn

    def mode_fix(self, tls: str) -> str:
        return relay_auth_command(self.dest.text, self.user, f"--tls {tls}")

    def fresh(self) -> Connection | None:
        """A new connection to the same address (for the TLS-mode diagnosis), or None."""
        try:
            sock = socket.create_connection((self.target.address, self.target.port), timeout=self.timeout)
        except OSError:
            return None
        return Connection(sock, time.monotonic() + self.timeout)

    # -- greeting and TLS --------------------------------------------------------------
    def greeting(self) -> None:
        conn = self.stage()
        try:
            reply = conn.read_reply()
        except WireTimeout:
            if not self.tls and self._speaks_tls_first():
                raise self.fail("greeting", f"no greeting within {self.timeout:g}s: the server waits for a TLS "
                                "handshake first, so this port expects implicit TLS, not STARTTLS",
                                "this port expects implicit TLS: run " + self.mode_fix("wrapper")) from None
            raise self.fail("greeting", f"the server accepted the connection but sent no greeting within "
                            f"{self.timeout:g}s", "check the port (submission: 587 STARTTLS, 465 implicit TLS); "
                            "a server that never greets is overloaded or is not a mail server") from None
        except WireError as exc:
            raise self.fail("greeting", f"no SMTP greeting: {exc}", "check the relay host and port") from None
        if reply.code // 100 != 2:
            raise self.fail("greeting", f"the server refused the session: {reply}",
                            "ask the provider why it refuses this host (blocklisted address?)")
        self.add("greeting", PASSED, str(reply))

    def _speaks_tls_first(self) -> bool:
        conn = self.fresh()
        if conn is None:
            return False
        try:
            conn.start_tls(certs.plain_context(), None)
            return True
        except (OSError, ssl.SSLError, WireError):
            return False
        finally:
            conn.close()

    def _greets_in_plain(self) -> bool:
        conn = self.fresh()
        if conn is None:
            return False
        try:
            return conn.read_reply().code == 220
        except WireError:
            return False
        finally:
            conn.close()

    def context(self) -> ssl.SSLContext:
        s = self.s
        try:
            trusted = certs.trust_context(s.ca_file, s.ca_path, s.trust_anchor_file, s.append_default_ca)
        except (OSError, ssl.SSLError) as exc:
            where = " and ".join(f"{n} = {v}" for n, v in (("smtp_tls_CAfile", s.ca_file),
                                                           ("smtp_tls_CApath", s.ca_path)) if v)
            raise self.fail("tls", f"Postfix cannot load {where} ({getattr(exc, 'strerror', None) or exc}) and "
                            "disables TLS", "point smtp_tls_CAfile at a readable PEM file, e.g. "
                            "pfedit set smtp_tls_CApath=/etc/ssl/certs") from None
        return trusted if s.tls_level in ("verify", "secure") else certs.plain_context()

    def server_name(self) -> str | None:
        name = self.s.tls_servername.lower()
        return (self.target.host if name == "hostname" else self.dest.host if name == "nexthop"
                else self.s.tls_servername or None)

    def handshake(self, wrapper: bool) -> None:
        conn = self.stage()
        try:
            tls = conn.start_tls(self.context(), self.server_name())
        except ssl.SSLCertVerificationError as exc:
            raise self.fail("tls", f"certificate not trusted: {exc.verify_message}"
                            + self._cert_summary_elsewhere(wrapper), self._trust_fix()) from None
        except (ssl.SSLError, OSError, WireError) as exc:
            if wrapper and self._greets_in_plain():
                raise self.fail("tls", "the TLS handshake failed and the server greets in plain text: this port "
                                "expects STARTTLS, not implicit TLS",
                                "this port expects STARTTLS: run " + self.mode_fix("starttls")) from None
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise self.fail("tls", f"TLS handshake failed: {reason}", "check the port and the provider's TLS "
                            "requirements") from None
        self.tls = True
        der = tls.getpeercert(binary_form=True)
        cert = certs.parse_certificate(der) if der else None
        detail = f"{tls.version()} {(tls.cipher() or ('?',))[0]}" + (f"; {cert.summary()}" if cert else "")
        detail += self._check_certificate(cert)
        self.add("tls", PASSED, ("implicit TLS" if wrapper else "STARTTLS") + f": {detail}")

    def _cert_summary_elsewhere(self, wrapper: bool) -> str:
        """The certificate of a failed verification, fetched again without verifying (best effort)."""
        conn = self.fresh()
        if conn is None:
            return ""
        try:
            if not wrapper:
                conn.read_reply()
                conn.command(f"EHLO {self.s.helo_name}")
                if conn.command("STARTTLS").code != 220:
                    return ""
            der = conn.start_tls(certs.plain_context(), self.server_name()).getpeercert(binary_form=True)
            return f" ({certs.parse_certificate(der).summary()})" if der else ""
        except (OSError, ssl.SSLError, WireError, ValueError, IndexError):
            return ""
        finally:
            conn.close()

    def _trust_fix(self) -> str:
        s = self.s
        if not s.ca_file and not s.ca_path:
            return ("smtp_tls_CAfile and smtp_tls_CApath are both empty, so Postfix trusts no CA: "
                    "pfedit set smtp_tls_CApath=/etc/ssl/certs")
        return "add the CA that issued the certificate to smtp_tls_CAfile, or use the system store: " \
               "pfedit set smtp_tls_CApath=/etc/ssl/certs"

    def _check_certificate(self, cert: certs.CertInfo | None) -> str:
        s = self.s
        verdict = check_level(cert, s.tls_level, host=self.target.host, nexthop=self.dest.host,
                              verify_match=s.verify_cert_match, secure_match=s.secure_cert_match,
                              digest=s.fingerprint_digest, fingerprints=s.fingerprints)
        if not verdict.ok:
            fix = verdict.fix.format(relay=relay_auth_command(
                f"[{cert.names[0] if cert and cert.names else 'NAME'}]:{self.dest.port}", self.user))
            raise self.fail("tls", verdict.detail, fix)
        self.verified = verdict.verified
        return verdict.detail

    # -- EHLO and mechanisms -------------------------------------------------------------
    def ehlo(self, name: str = "ehlo") -> Reply:
        conn = self.stage()
        reply = conn.command(f"EHLO {self.s.helo_name}")
        if reply.code // 100 != 2:
            raise self.fail(name, f"EHLO refused: {reply}", "check smtp_helo_name (the relay may want a real "
                            "host name): pfedit set smtp_helo_name=host.example.com")
        return reply

    def starttls(self) -> None:
        level = self.s.tls_level
        reply = self.ehlo("tls")
        offered = any(line.split()[:1] == ["STARTTLS"] for line in (ln.upper() for ln in reply.lines[1:]))
        if not offered:
            if level in MANDATORY:
                raise self.fail("tls", f"TLS is required (level {level}) but the server does not offer STARTTLS",
                                "use the provider's submission port 587 (STARTTLS) or 465: " + self.mode_fix("auto"))
            self.add("tls", PASSED, f"STARTTLS not offered: smtp(8) continues unencrypted (level {level})")
            return
        answer = self.stage().command("STARTTLS")
        if answer.code != 220:
            if level in MANDATORY:
                raise self.fail("tls", f"the server refused STARTTLS: {answer}", "ask the provider")
            self.add("tls", PASSED, f"STARTTLS refused ({answer}): smtp(8) continues unencrypted")
            return
        self.handshake(wrapper=False)

    def mechanisms(self, reply: Reply, plugin_dirs: list[Path]) -> str | None:
        """The mechanism smtp(8) will use, after recording the ``ehlo`` stage; None without AUTH."""
        s = self.s
        offered: list[str] = []
        for line in reply.lines[1:]:
            words = line.replace("=", " ", 1).split() if line.upper().startswith("AUTH=") else line.split()
            if words and words[0].upper() == "AUTH":
                offered.extend(w for w in words[1:] if w.upper() not in {o.upper() for o in offered})
        if not s.sasl_enabled:
            self.add("ehlo", PASSED, f"{reply.lines[0]}; AUTH not used (smtp_sasl_auth_enable = no)")
            return None
        if not offered:
            raise self.fail("ehlo", *no_auth_offered(self.tls, s.tls_level, self.dest.port))
        filtered = filter_mechanisms(offered, s.mechanism_filter)
        if not filtered:
            raise self.fail("ehlo", f"the server offers {' '.join(offered)}, and smtp_sasl_mechanism_filter = "
                            f"{', '.join(s.mechanism_filter)} removes all of them: smtp(8) sends without logging in",
                            f"pfedit set 'smtp_sasl_mechanism_filter={', '.join(offered).lower()}'")
        installed = installed_mechanisms(plugin_dirs)
        usable = [m for m in filtered if m.upper() in installed]
        if not usable:
            looked = ", ".join(str(d) for d in plugin_dirs)
            raise self.fail("ehlo", f"the server offers {' '.join(filtered)}, but no Cyrus SASL client plugin for "
                            f"them is installed (looked in {looked}): smtp(8) fails with 'No worthy mechs found'",
                            "install the plugins: apt-get install libsasl2-modules (Debian/Ubuntu), "
                            "dnf install cyrus-sasl-plain (RHEL/Fedora)")
        options = (s.verified_security_options if self.verified else s.tls_security_options) if self.tls \
            else s.security_options
        param = ("smtp_sasl_tls_verified_security_options" if self.verified else "smtp_sasl_tls_security_options") \
            if self.tls else "smtp_sasl_security_options"
        choice = cyrus_choice(filtered, installed, security_flags(options))
        if choice is None:
            raise self.fail("ehlo", f"{param} = {', '.join(options)} forbids every offered mechanism "
                            f"({' '.join(usable)}): smtp(8) fails with 'No worthy mechs found'",
                            f"pfedit set {param}=noanonymous")
        shown = f" (filter: {', '.join(s.mechanism_filter)})" if s.mechanism_filter else ""
        self.add("ehlo", PASSED, f"{reply.lines[0]}; AUTH {' '.join(offered)}{shown}; smtp(8) will use {choice}")
        return choice

    # -- AUTH, a test message, QUIT ----------------------------------------------------------
    def auth(self, mechanism: str | None) -> None:
        if mechanism is None:
            self.add("auth", SKIPPED, "smtp(8) does not log in (smtp_sasl_auth_enable = no): the relay must accept "
                     "this host by its address; --send-to tests that")
            return
        creds = self.creds
        if creds is None:
            keys = ", ".join(self.s.lookup_keys(self.dest, self.target.host))
            maps = ", ".join(self.s.password_maps) or "(no readable smtp_sasl_password_maps)"
            raise self.fail("auth", f"no password map entry for {keys} in {maps}: smtp(8) sends without logging in",
                            relay_auth_command(self.dest.text, None))
        where = f"user {creds.username} from {creds.table} key {creds.key}"
        if mechanism not in SUPPORTED:
            self.add("auth", SKIPPED, f"smtp(8) would use {mechanism}, which this check cannot speak: {where} "
                     "not tested", "to test with PLAIN or LOGIN: pfedit set 'smtp_sasl_mechanism_filter=plain, login'")
            return
        if mechanism in CLEARTEXT and not self.tls:
            raise self.fail("auth", f"smtp(8) would send the password unencrypted ({mechanism} without TLS); "
                            "this check refuses to", "pfedit set smtp_tls_security_level=encrypt")
        reply = self._converse(mechanism, creds)
        if reply.code == 235:
            self.add("auth", PASSED, f"{mechanism} as {where}: {reply}")
            return
        diagnosis, fix = auth_failure(reply, creds.username, self.dest.text)
        raise self.fail("auth", f"{mechanism} as {where}: {reply}: {diagnosis}", fix)

    def _converse(self, mechanism: str, creds: Credentials) -> Reply:
        conn = self.stage()
        talk = conversation(mechanism, creds.username, creds.password, self.target.host)
        try:
            first = next(talk)
            initial = base64.b64encode(first).decode()
            self.secrets.append(initial)
            reply = conn.command(f"AUTH {mechanism} {initial}" if first else f"AUTH {mechanism}")
            while reply.code == 334:
                answer = talk.send(base64.b64decode(reply.text.strip() or "", validate=False))
                encoded = base64.b64encode(answer).decode()
                self.secrets.append(encoded)
                reply = conn.command(encoded)
        except (StopIteration, ValueError, binascii.Error) as exc:
            conn.send("*")
            raise self.fail("auth", f"{mechanism}: the exchange went wrong: {exc or 'unexpected challenge'}",
                            "pfedit set 'smtp_sasl_mechanism_filter=plain, login'") from None
        return reply

    def send(self, send_to: str | None) -> None:
        if send_to is None:
            self.add("send", SKIPPED, "no message sent (--send-to ADDRESS sends one test message)")
            return
        conn, sender = self.stage(), self.s.sender
        reply = conn.command(f"MAIL FROM:<{sender}>")
        if reply.code // 100 != 2:
            diagnosis, fix = sender_failure(reply, sender, self.user)
            raise self.fail("send", f"MAIL FROM:<{sender}>: {reply}: {diagnosis}", fix)
        reply = conn.command(f"RCPT TO:<{send_to}>")
        if reply.code // 100 != 2:
            diagnosis, fix = recipient_failure(reply, send_to)
            raise self.fail("send", f"RCPT TO:<{send_to}>: {reply}: {diagnosis}", fix)
        reply = conn.command("DATA")
        if reply.code != 354:
            raise self.fail("send", f"DATA: {reply}", "ask the provider")
        conn.set_deadline(self.timeout)
        conn.send_raw(_message(sender, send_to, self.s.helo_name))
        reply = conn.read_reply()
        if reply.code // 100 != 2:
            raise self.fail("send", f"the message was refused: {reply}", "ask the provider (content filter?)")
        self.add("send", PASSED, f"test message from {sender} to {send_to} accepted: {reply}")

    def quit(self) -> None:
        try:
            reply = self.stage().command("QUIT")
            self.add("quit", PASSED, str(reply))
        except WireError as exc:
            self.add("quit", PASSED, f"no reply to QUIT ({exc}); nothing was lost")


def _message(sender: str, recipient: str, helo: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, recipient
    msg["Subject"] = "pfedit verify relay: test message"
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid("pfedit-verify", domain=helo or None)
    msg.set_content("This message was sent by 'pfedit verify relay --send-to' to test the relay.\n"
                    "Mail from this host now leaves through the relay.\n")
    body = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    lines = [b"." + ln if ln.startswith(b".") else ln for ln in body.split(b"\r\n")]
    return b"\r\n".join(lines).rstrip(b"\r\n") + b"\r\n.\r\n"


def run_session(settings: ClientSettings, dest: Destination, sock: socket.socket, target: Target, timeout: float,
                send_to: str | None, plugin_dirs: list[Path] | None, stages: list[Stage]) -> None:
    """Run the SMTP stages on a connected socket; stop at the first failure; always close."""
    probe = _Probe(settings, dest, target, timeout, stages)
    probe.conn = Connection(sock, time.monotonic() + timeout)
    try:
        if settings.wrapper:
            probe.handshake(wrapper=True)
            probe.greeting()
        else:
            probe.greeting()
            if settings.tls_level == "none":
                probe.add("tls", SKIPPED, "smtp_tls_security_level = none: no TLS")
            else:
                probe.starttls()
        reply = probe.ehlo()
        probe.auth(probe.mechanisms(reply, plugin_dirs if plugin_dirs is not None else default_plugin_dirs()))
        probe.send(send_to)
        probe.quit()
    except _Failed:
        _polite_quit(probe.conn)
    except WireTimeout:
        probe.add(_next_stage(stages), FAILED, f"no reply within {timeout:g}s", "check the relay and the network")
    except WireError as exc:
        probe.add(_next_stage(stages), FAILED, f"the connection failed: {exc}", "check the relay and the network")
    finally:
        probe.conn.close()


def _next_stage(stages: list[Stage]) -> str:
    from .relay_probe import STAGES

    done = [s.name for s in stages]
    return next((n for n in STAGES[1:] if n not in done), "quit")


def _polite_quit(conn: Connection) -> None:
    try:
        conn.set_deadline(2)
        conn.command("QUIT")
    except (WireError, OSError):
        pass
