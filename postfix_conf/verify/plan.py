"""What the probe tries on each smtpd: address forms, senders and HELO names of a stranger.

A stranger chooses everything in the envelope. Open-relay scanners try the plain
outside address and the forms that once fooled mail servers into relaying: a quoted
local part holding the outside address, the percent hack, bang paths, source routes,
and the server's own name or address literal with the outside address in the local
part. Each is tried with an empty, a local and an outside sender, EHLO with the
server's own name. A stranger also forges whatever a sender or HELO access table
answers OK for (``check_sender_access hash:... `` with ``example.com OK``); those
keys are read the way :mod:`postfix_conf.check.restrictions` reads tables and tried
with the plain form.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..check.context import Config, split_list, split_plain, unbrace
from ..master_cf import Service
from ..table import LookupTable

OUTSIDE_DOMAIN = "outside.example"
RECIPIENT_USER = "relay-probe"
STRANGER = f"stranger@{OUTSIDE_DOMAIN}"
CLIENT_NAME = f"client.{OUTSIDE_DOMAIN}"
CLIENT_NET = "203.0.113"  # TEST-NET-3: outside every network a configuration trusts
SANDBOX_ADDRESS = "127.0.0.1"  # the server's own address literal: where the sandbox listens
MAX_TABLE_KEYS = 5
_STAGES = ("smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
           "smtpd_relay_restrictions", "smtpd_recipient_restrictions")
_FILE_TABLES = frozenset({"hash", "btree", "lmdb", "cdb", "texthash", "dbm", "sdbm"})


@dataclass(frozen=True)
class Form:
    key: str
    title: str
    template: str  # {u} user, {d} outside domain, {own} server name, {ip} server address

    def address(self, own: str) -> str:
        return self.template.format(u=RECIPIENT_USER, d=OUTSIDE_DOMAIN, own=own, ip=SANDBOX_ADDRESS)


FORMS: tuple[Form, ...] = (
    Form("plain", "plain outside address", "{u}@{d}"),
    Form("quoted", "quoted local part", '"{u}@{d}"'),
    Form("quoted-own", "quoted local part at the server's name", '"{u}@{d}"@{own}'),
    Form("quoted-literal", "quoted local part at the server's address literal", '"{u}@{d}"@[{ip}]'),
    Form("percent", "percent hack", "{u}%{d}"),
    Form("percent-own", "percent hack at the server's name", "{u}%{d}@{own}"),
    Form("percent-literal", "percent hack at the server's address literal", "{u}%{d}@[{ip}]"),
    Form("bang", "bang path", "{d}!{u}"),
    Form("bang-own", "bang path at the server's name", "{d}!{u}@{own}"),
    Form("bang-literal", "bang path at the server's address literal", "{d}!{u}@[{ip}]"),
    Form("source-route", "source route through the server's name", "@{own}:{u}@{d}"),
    Form("source-route-literal", "source route through the server's address literal", "@[{ip}]:{u}@{d}"),
    Form("at-own", "outside address at the server's name", "{u}@{d}@{own}"),
    Form("at-literal", "outside address at the server's address literal", "{u}@{d}@[{ip}]"),
)
FORMS_BY_KEY = {f.key: f for f in FORMS}


@dataclass(frozen=True)
class Round:
    """One SMTP session of the probe: one HELO name, one sender, several recipient forms."""

    helo: str
    sender: str  # "" is the null sender <>
    forms: tuple[Form, ...]
    why: str  # "empty sender", "local sender", "sender example.com that check_sender_access ... permits"


def _permits(value: str) -> bool:
    word = value.strip().split(" ", 1)[0].upper()
    return word in ("OK", "RELAY", "PERMIT") or (word.isdigit() and word[:1] not in "45")


def _table_keys(spec: str) -> list[str]:
    """Keys that an ``inline:`` or readable file table maps to OK (other kinds: none known)."""
    kind, _, name = spec.partition(":")
    while kind == "proxy":
        kind, _, name = name.partition(":")
    entries: dict[str, str] = {}
    if kind == "inline":
        for item in split_list(unbrace(name)):
            key, _, value = item.partition("=")
            entries[key.strip()] = value.strip()
    elif kind in _FILE_TABLES and name.startswith("/") and os.path.isfile(name):
        try:
            entries = LookupTable.read(name).entries()
        except (OSError, ValueError):
            return []
    return [k for k, v in entries.items() if _permits(v)][:MAX_TABLE_KEYS]


def access_keys(cfg: Config, service: Service | None, check: str) -> list[str]:
    """OK keys of every ``check`` table (check_sender_access, check_helo_access) the service's lists use."""
    classes = set(split_plain(cfg.value("smtpd_restriction_classes", service)))
    found: list[str] = []
    todo = [name for name in _STAGES]
    seen: set[str] = set()
    while todo:
        name = todo.pop(0)
        if name in seen or len(seen) > 50:
            continue
        seen.add(name)
        items = [unbrace(t) for t in cfg.words(name, service)]
        for i, item in enumerate(items):
            if item == check and i + 1 < len(items):
                found.extend(k for k in _table_keys(items[i + 1]) if k not in found)
            elif item in classes:
                todo.append(item)
    return found


def _sender_for(key: str, mydomain: str) -> str | None:
    if key == "<>" or not key or " " in key:
        return None
    if key.endswith("@"):
        return key + mydomain
    if "@" in key:
        return key
    return f"stranger@probe{key}" if key.startswith(".") else f"stranger@{key}"


def _helo_for(key: str) -> str | None:
    if not key or " " in key or "@" in key:
        return None
    return f"probe{key}" if key.startswith(".") else key


def rounds(cfg: Config, service: Service, own: str, mydomain: str) -> list[Round]:
    """The sessions to run against one smtpd."""
    out = [Round(own, "", FORMS, "empty sender <>"),
           Round(own, f"postmaster@{mydomain}", FORMS, "local sender"),
           Round(own, STRANGER, FORMS, "outside sender")]
    plain = (FORMS[0],)
    for key in access_keys(cfg, service, "check_sender_access"):
        sender = _sender_for(key, mydomain)
        if sender is not None:
            out.append(Round(own, sender, plain, f"sender {sender} (check_sender_access answers OK for {key})"))
    for key in access_keys(cfg, service, "check_helo_access"):
        helo = _helo_for(key)
        if helo is not None:
            out.append(Round(helo, STRANGER, plain, f"HELO {helo} (check_helo_access answers OK for {key})"))
    return out
