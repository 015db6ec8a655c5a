"""relay-auth: send mail through the provider's submission port with SMTP AUTH.

A function from what the user asked for (:class:`RelayAuth`) to desired items; reading
under the lock, editing only what differs, postconf validation, compiling, committing
all files together and reloading are :mod:`postfix_conf.pipeline`'s.

Accounts (SASL_README, "Configuring sender-dependent SASL authentication"):

* the **default account** (no ``sender``) is ``relayhost`` with its credentials keyed
  by the relay as written; its TLS mode is the global ``smtp_tls_wrappermode``;
* a **per-sender account** (``sender`` = ``alice@example.jp`` or ``@example.org``) adds
  ``sender -> relay`` to ``sender_dependent_relayhost_maps``, the credentials keyed by the
  sender (``smtp_sender_dependent_authentication = yes``: smtp(8) looks the sender up
  first), and ``sender -> pfedit-starttls`` or ``pfedit-wrapper`` to
  ``sender_dependent_default_transport_maps``: a dedicated smtp(8) transport in master.cf
  per TLS mode, because ``smtp_tls_wrappermode`` is per transport. So accounts on 465 and
  on 587 work side by side, with or without a default relayhost;
* ``rewrite_sender``: mail from the local domains (what ``$myhostname``, ``$mydomain`` and
  ``$myorigin`` are) is rewritten to that address, envelope and headers, by
  ``smtp_generic_maps``; for a per-sender account that mail is also routed through it.

What each account replaced is recorded (:mod:`.accounts`), so :func:`remove_relay_auth`
can take it back: an account's entries, and when no account is left, every setting the
accounts shared -- exactly the bytes there were, where nobody changed them since.

>>> from postfix_conf import pipeline                                    # doctest: +SKIP
>>> plan = pipeline.plan("/etc/postfix", relay_auth(RelayAuth("[msa.example.jp]:587", "me", "pw")))
>>> plan.operations, plan.diff()                     # review (the password is masked)
>>> pipeline.apply(plan, reload=True)                # or plan.discard()
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import InvalidValueError
from ..items import Entry, Item, Option, Param, Service, Table
from ..maps import FILE_TYPES, MapRef, parse_maps
from ..pipeline import BeforeCommitError, Desired, Reader, Recipe
from ..planner import Planned, undo_items
from ..relayhost import SMTPS_HINT, Destination, implicit_tls, parse_relayhost, relayhost_warnings
from ..view import ConfigView
from .accounts import DEFAULT, Accounts
from .submission import Listen, submission_items

TlsMode = Literal["auto", "starttls", "wrapper"]
STRONG_TLS_LEVELS = ("encrypt", "dane-only", "fingerprint", "verify", "secure")
TRANSPORTS = {True: "pfedit-wrapper", False: "pfedit-starttls"}  # per-sender accounts, by wrapper mode
_ADDRESS = re.compile(r"[^\s@<>\"',]*@[A-Za-z0-9_.-]+\.?\Z")


class RecipeError(BeforeCommitError):
    """The recipe cannot be applied as asked; nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__("plan", message)


@dataclass(frozen=True)
class RelayAuth:
    """What the user asked for. ``password`` never appears in ``repr``."""

    relayhost: str
    username: str
    password: str = field(repr=False)
    tls: TlsMode = "auto"
    mechanisms: str | None = None
    password_map: str | None = None
    map_type: str | None = None
    submission: bool = False
    submission_listen: Listen = "any"
    sender: str | None = None  # None: the default account (relayhost)
    rewrite_sender: str | None = None


def check_credentials(username: str, password: str) -> None:
    """What a password map line can carry (postmap splits at whitespace, trims the value)."""
    if not username or any(c in username for c in " \t\r\n\0:"):
        raise InvalidValueError("username must be non-empty, without whitespace, ':' or NUL")
    if not password:
        raise InvalidValueError("the password is empty")
    if any(c in password for c in "\r\n\0"):
        raise InvalidValueError("the password contains a newline or NUL byte")
    if password != password.strip(" \t\v\f"):
        raise InvalidValueError("the password starts or ends with whitespace, which postmap would drop")


def check_sender(sender: str, what: str = "--sender") -> str:
    """``user@domain`` or ``@domain`` (a whole domain), as the maps key them."""
    if not _ADDRESS.match(sender) or sender.count("@") != 1:
        raise InvalidValueError(f"{what} {sender!r}: give an address (alice@example.jp) or a domain (@example.org)")
    return sender


def wants_wrapper(tls: TlsMode, destinations: list[Destination]) -> bool:
    """Implicit TLS (``smtp_tls_wrappermode``) for port 465, else STARTTLS."""
    if tls != "auto":
        return tls == "wrapper"
    modes = {implicit_tls(d) for d in destinations}
    if len(modes) > 1:
        raise RecipeError("the relayhost list mixes implicit-TLS (465) and STARTTLS ports; "
                          "pass --tls starttls or --tls wrapper")
    return modes == {True}


def existing_map(view: ConfigView, param: str) -> MapRef | None:
    """The first table of ``param`` (as Postfix expands it) that is a file pfedit can edit;
    None when the parameter is empty."""
    raw = view.raw(param) or ""
    for ref in parse_maps(view.value(param)):
        if ref.is_file:
            return ref
    if raw.strip():
        raise RecipeError(f"{param} = {raw} names no table file pfedit can edit"
                          + ("; pass --password-map to replace it" if param == "smtp_sasl_password_maps" else ""))
    return None


def local_domains(view: ConfigView) -> list[str]:
    """The domains of local mail: what ``$myhostname``, ``$mydomain`` and ``$myorigin`` are
    (``myorigin = /etc/mailname`` is that file's first line, as Debian's Postfix reads it)."""
    out: list[str] = []
    for name in ("myhostname", "mydomain", "myorigin"):
        value = view.value(name).strip()
        if value.startswith("/"):
            try:
                value = Path(value).read_text("utf-8", "replace").split("\n", 1)[0].strip()
            except OSError:
                continue
        if value and value not in out:
            out.append(value.lower())
    return out


class _Plan:
    """The items of one apply, split into the settings every account shares and this account's."""

    def __init__(self, params: RelayAuth, reader: Reader, default_map_type: str | None) -> None:
        self.p = params
        self.reader = reader
        self.view = reader.view()
        self.accounts = Accounts(reader.state())
        self.default_type = default_map_type or "hash"
        self.items: list[Item] = []
        self.shared: set[int] = set()  # indexes of the items every account needs (the rest: this account's)
        self.warnings: list[str] = []

    def add(self, *items: Item, shared: bool) -> None:
        for item in items:
            if shared:
                self.shared.add(len(self.items))
            self.items.append(item)

    def table(self, param: str, default_name: str, *, secret: bool, explicit: str | None = None,
              kind: str | None = None) -> tuple[str, str]:
        """(type, path) of a table: the file ``param`` names, else a new one set in ``param``."""
        existing = None if explicit else existing_map(self.view, param)
        if existing is not None:
            map_type, path = existing.kind, existing.name
        else:
            path = os.path.abspath(explicit or self.reader.config_dir / default_name)
            map_type = kind or self.default_type
            if map_type not in FILE_TYPES:
                raise RecipeError(f"map type {map_type!r} is not a postmap file type "
                                  f"({', '.join(sorted(FILE_TYPES))})")
            self.add(Param(param, f"{map_type}:{path}"), shared=True)
        self.add(Table(path, map_type, secret=secret), shared=True)
        return map_type, path

    def build(self, destinations: list[Destination], wrapper: bool) -> None:
        p, credentials = self.p, f"{self.p.username}:{self.p.password}"
        if p.sender is None:
            self.add(Param("relayhost", p.relayhost, match="effective"), shared=False)
        self.add(Param("smtp_sasl_auth_enable", "yes", match="effective", compare="bool"), shared=True)
        _, pw_map = self.table("smtp_sasl_password_maps", "sasl_passwd", secret=True, explicit=p.password_map,
                               kind=p.map_type)
        self.add(Param("smtp_sasl_security_options", "noanonymous", match="effective", compare="list",
                       note="allow PLAIN/LOGIN; TLS is mandatory below"),
                 Param("smtp_sasl_tls_security_options", "noanonymous", match="effective", compare="list"),
                 Param("smtp_tls_security_level", "encrypt", match="effective", accept=STRONG_TLS_LEVELS,
                       note="credentials never cross the network in clear"), shared=True)
        if p.sender is None:
            self.add(Param("smtp_tls_wrappermode", "yes", match="effective", compare="bool",
                           note="implicit TLS (port 465)")
                     if wrapper else Param("smtp_tls_wrappermode", None, match="effective", compare="bool",
                                           accept=("no",), note="STARTTLS relay"), shared=False)
        if p.mechanisms is not None:
            self.add(Param("smtp_sasl_mechanism_filter", p.mechanisms, match="effective", compare="list"),
                     shared=True)
        relay_text = ", ".join(d.text for d in destinations)
        if p.sender is None:
            self.add(*(Entry(pw_map, d.text, credentials, secret=True, note="credentials") for d in destinations),
                     shared=False)
            table = self.reader.table(pw_map, secret=True)
            self.warnings += [
                f"{pw_map}: the entry for the bare host name {d.host!r} is looked up before {d.text!r} and has "
                "other credentials; it wins (Postfix tries the host name first)"
                for d in destinations if d.host != d.text and table.get(d.host) not in (None, credentials)]
            senders: list[str] = []
        else:
            senders = [p.sender]
        local = local_domains(self.view) if p.rewrite_sender else []
        if p.rewrite_sender and p.sender is not None:
            senders += [f"@{d}" for d in local]  # local mail is this account's mail
        if senders:
            self.per_sender(senders, relay_text, credentials, wrapper, pw_map)
        if p.rewrite_sender:
            self.rewrite(p.rewrite_sender, local)
        else:
            self.exempt_from_rewriting()
        if p.submission:
            self.add(*submission_items(self.reader.master(), p.submission_listen), shared=True)

    def per_sender(self, senders: list[str], relay: str, credentials: str, wrapper: bool, pw_map: str) -> None:
        transport = TRANSPORTS[wrapper]
        self.add(Param("smtp_sender_dependent_authentication", "yes", match="effective", compare="bool",
                       note="credentials by sender address"), shared=True)
        _, relays = self.table("sender_dependent_relayhost_maps", "sender_relay", secret=False)
        _, transports = self.table("sender_dependent_default_transport_maps", "sender_transport", secret=False)
        smtp = self.reader.view(master=True).service("smtp", "unix")
        columns = tuple(zip(("private", "unprivileged", "chroot", "wakeup", "process_limit"),
                            (smtp.private, smtp.unpriv, smtp.chroot, smtp.wakeup, smtp.maxproc)
                            if smtp is not None else ("-", "-", "-", "-", "-"), strict=True))
        why = "smtp(8) for per-sender accounts " + ("on port 465" if wrapper else "with STARTTLS")
        self.add(Service(transport, "unix", new_columns=columns, new_command="smtp", note=why),
                 Option(transport, "unix", "smtp_tls_wrappermode", "yes" if wrapper else "no"), shared=True)
        for sender in senders:
            self.add(Entry(relays, sender, relay, note="relay for this sender"),
                     Entry(transports, sender, transport, note="TLS mode of that relay"),
                     Entry(pw_map, sender, credentials, secret=True, note="credentials"), shared=False)

    def rewrite(self, address: str, local: list[str]) -> None:
        """Local addresses become ``address``; senders of other accounts in those domains stay."""
        key = (self.p.sender or DEFAULT).lower()
        for other, info in self.accounts.others(key).items():
            if info.get("rewrite_sender"):
                who = other or "the default account"
                raise RecipeError(f"local mail is already rewritten to {info['rewrite_sender']} for {who}; "
                                  "remove that first (pfedit apply relay-auth --remove"
                                  + (f" --sender {other})" if other else ")"))
        _, generic = self.table("smtp_generic_maps", "generic", secret=False)
        self.add(*(Entry(generic, f"@{d}", address, note="local mail as the account's address") for d in local),
                 shared=False)
        keep = [s for s in [*self.accounts.others(key), self.p.sender or ""] if "@" in s[1:]]
        self.add(*(Entry(generic, s, s, note="an account's own sender stays") for s in keep
                   if s.partition("@")[2] in local), shared=False)

    def exempt_from_rewriting(self) -> None:
        """A new sender in a domain that another account rewrites keeps its own address."""
        sender = self.p.sender
        if sender is None or sender.startswith("@"):
            return
        rewriter = next((info for info in self.accounts.others(sender).values() if info.get("rewrite_sender")), None)
        if rewriter is not None and sender.partition("@")[2].lower() in local_domains(self.view):
            _, generic = self.table("smtp_generic_maps", "generic", secret=False)
            self.add(Entry(generic, sender, sender, note="an account's own sender stays"), shared=False)


def relay_auth(params: RelayAuth, *, default_map_type: str | None = None) -> Recipe:
    """The recipe. Malformed input is refused here, before any file is read.

    ``default_map_type`` is what ``postconf -h default_database_type`` says (the CLI asks
    postconf); without it ``hash`` is used.
    """
    check_credentials(params.username, params.password)
    if params.sender is not None:
        check_sender(params.sender)
    if params.rewrite_sender is not None:
        check_sender(params.rewrite_sender, "--rewrite-sender")
        if params.rewrite_sender.startswith("@"):
            raise InvalidValueError("--rewrite-sender needs a whole address, e.g. me@provider.example")
    destinations = parse_relayhost(params.relayhost)
    if not destinations:
        raise InvalidValueError("relayhost is empty; give the provider's relay, e.g. [msa.example.jp]:587")
    wrapper = wants_wrapper(params.tls, destinations)
    # What Postfix accepts but rarely means (host:587 still looks up MX records); not the
    # port-465 notice: this recipe sets wrapper mode itself.
    notices = [w for w in relayhost_warnings(params.relayhost) if not w.endswith(SMTPS_HINT)]

    def recipe(reader: Reader) -> Desired:
        built = _Plan(params, reader, default_map_type)
        built.build(destinations, wrapper)
        info = {"relayhost": params.relayhost, "username": params.username, "tls": "wrapper" if wrapper else "starttls",
                "rewrite_sender": params.rewrite_sender}
        key = params.sender or DEFAULT

        def finish(reader: Reader, planned: Planned) -> None:
            accounts = built.accounts
            if not planned.undo and accounts.get(key) is None:
                return  # nothing done and nothing recorded: pfedit did not set this account up
            accounts.record(key, info, planned, built.shared)
            accounts.save(reader.drop_state)

        return Desired(built.items, [*notices, *built.warnings],
                       secrets=[params.password, f"{params.username}:{params.password}"], finish=finish)

    return recipe


def remove_relay_auth(sender: str | None = None) -> Recipe:
    """Take back what :func:`relay_auth` did for one account (the default one: ``sender=None``);
    with the last account, every shared setting too."""
    if sender is not None:
        check_sender(sender)

    def recipe(reader: Reader) -> Desired:
        accounts = Accounts(reader.state())
        key = sender or DEFAULT
        if accounts.get(key) is None:  # removed already, or never set up by pfedit: not ours to touch
            known = ", ".join(k or "the default account" for k in accounts.accounts) or "none"
            return Desired([], [f"pfedit recorded no relay account {'for ' + key if key else '(the default one)'} "
                                f"in {reader.config_dir}/pfedit.state.json (recorded: {known}); nothing to remove"])
        mine, shared = accounts.forget(key)

        def finish(reader: Reader, planned: Planned) -> None:
            accounts.save(reader.drop_state)

        return Desired(undo_items([*shared, *mine]), finish=finish)

    return recipe


def password_map_of(tables: dict[str, Table]) -> str | None:
    """``type:/path`` of the password map a plan uses, for output."""
    for table in tables.values():
        if table.secret:
            return f"{table.map_type}:{table.path}"
    return None


__all__ = ["STRONG_TLS_LEVELS", "TRANSPORTS", "RecipeError", "RelayAuth", "check_credentials", "check_sender",
           "existing_map", "local_domains", "password_map_of", "relay_auth", "remove_relay_auth", "wants_wrapper"]
