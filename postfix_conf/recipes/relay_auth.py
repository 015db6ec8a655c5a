"""relay-auth: send all mail through the provider's submission port with SMTP AUTH.

A function from what the user asked for (:class:`RelayAuth`) to desired items: the
relayhost, the SASL client settings, mandatory TLS, the credentials in a 0600 password
map (compiled by postmap), and optionally the submission service. Everything else --
reading under the lock, editing only what differs, postconf validation, compiling,
committing all files together, reloading -- is :mod:`postfix_conf.pipeline`'s.

>>> from postfix_conf import pipeline                                    # doctest: +SKIP
>>> plan = pipeline.plan("/etc/postfix", relay_auth(RelayAuth("[msa.example.jp]:587", "me", "pw")))
>>> plan.operations, plan.diff()                     # review (the password is masked)
>>> pipeline.apply(plan, reload=True)                # or plan.discard()
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import InvalidValueError
from ..items import Entry, Item, Param, Table
from ..maps import FILE_TYPES, MapRef, parse_maps
from ..pipeline import BeforeCommitError, Desired, Reader, Recipe
from ..relayhost import Destination, implicit_tls, parse_relayhost
from ..view import ConfigView
from .submission import Listen, submission_items

TlsMode = Literal["auto", "starttls", "wrapper"]
STRONG_TLS_LEVELS = ("encrypt", "dane-only", "fingerprint", "verify", "secure")


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


def wants_wrapper(tls: TlsMode, destinations: list[Destination]) -> bool:
    """Implicit TLS (``smtp_tls_wrappermode``) for port 465, else STARTTLS."""
    if tls != "auto":
        return tls == "wrapper"
    modes = {implicit_tls(d) for d in destinations}
    if len(modes) > 1:
        raise RecipeError("the relayhost list mixes implicit-TLS (465) and STARTTLS ports; "
                          "pass --tls starttls or --tls wrapper")
    return modes == {True}


def existing_password_map(view: ConfigView) -> MapRef | None:
    """The first table of ``smtp_sasl_password_maps`` (as Postfix expands it) that is a file
    pfedit can edit; None when the parameter is empty."""
    raw = view.raw("smtp_sasl_password_maps") or ""
    for ref in parse_maps(view.value("smtp_sasl_password_maps")):
        if ref.is_file:
            return ref
    if raw.strip():
        raise RecipeError(f"smtp_sasl_password_maps = {raw} names no table file pfedit can edit; "
                          "pass --password-map to replace it")
    return None


def relay_auth(params: RelayAuth, *, default_map_type: str | None = None) -> Recipe:
    """The recipe. Malformed input is refused here, before any file is read.

    ``default_map_type`` is what ``postconf -h default_database_type`` says (the CLI asks
    postconf); without it ``hash`` is used.
    """
    check_credentials(params.username, params.password)
    destinations = parse_relayhost(params.relayhost)
    if not destinations:
        raise InvalidValueError("relayhost is empty; give the provider's relay, e.g. [msa.example.jp]:587")
    wrapper = wants_wrapper(params.tls, destinations)
    credentials = f"{params.username}:{params.password}"

    def recipe(reader: Reader) -> Desired:
        existing = None if params.password_map else existing_password_map(reader.view())
        if existing is not None:
            map_type, map_path = existing.kind, existing.name
        else:
            map_path = os.path.abspath(params.password_map or reader.config_dir / "sasl_passwd")
            map_type = params.map_type or default_map_type or "hash"
        if map_type not in FILE_TYPES:
            raise RecipeError(f"map type {map_type!r} is not a postmap file type "
                              f"({', '.join(sorted(FILE_TYPES))})")
        items: list[Item] = [Param("relayhost", params.relayhost, match="effective"),
                             Param("smtp_sasl_auth_enable", "yes", match="effective", compare="bool")]
        if existing is None:
            items.append(Param("smtp_sasl_password_maps", f"{map_type}:{map_path}"))
        items += [
            Param("smtp_sasl_security_options", "noanonymous", match="effective", compare="list",
                  note="allow PLAIN/LOGIN; TLS is mandatory below"),
            Param("smtp_sasl_tls_security_options", "noanonymous", match="effective", compare="list"),
            Param("smtp_tls_security_level", "encrypt", match="effective", accept=STRONG_TLS_LEVELS,
                  note="credentials never cross the network in clear"),
            Param("smtp_tls_wrappermode", "yes", match="effective", compare="bool", note="implicit TLS (port 465)")
            if wrapper else Param("smtp_tls_wrappermode", None, match="effective", compare="bool", accept=("no",),
                                  note="STARTTLS relay"),
        ]
        if params.mechanisms is not None:
            items.append(Param("smtp_sasl_mechanism_filter", params.mechanisms, match="effective", compare="list"))
        items.append(Table(map_path, map_type, secret=True))
        items += [Entry(map_path, d.text, credentials, secret=True, note="credentials") for d in destinations]
        if params.submission:
            items += submission_items(reader.master(), params.submission_listen)
        table = reader.table(map_path, secret=True)
        warnings = [f"{map_path}: the entry for the bare host name {d.host!r} is looked up before {d.text!r} and "
                    "has other credentials; it wins (Postfix tries the host name first)"
                    for d in destinations if d.host != d.text and table.get(d.host) not in (None, credentials)]
        return Desired(items, warnings, secrets=[params.password, credentials])

    return recipe


def password_map_of(plan_tables: dict[str, Table]) -> str:
    """``type:/path`` of the recipe's password map, for output."""
    table = next(iter(plan_tables.values()))
    return f"{table.map_type}:{Path(table.path)}"


__all__ = ["STRONG_TLS_LEVELS", "RecipeError", "RelayAuth", "check_credentials", "existing_password_map",
           "password_map_of", "relay_auth", "wants_wrapper"]
