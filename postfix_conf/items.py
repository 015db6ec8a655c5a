"""Desired state as data: what a recipe (or ``pfedit set``, or an Ansible task) wants.

A recipe is a function from its parameters (and a read-only view of the configuration)
to a list of items; :mod:`postfix_conf.planner` turns items into edits of the
documents, only where the files do not already say so, and records each edit as an
:class:`Operation` and an undo record (what it replaced). The planner also turns undo
records back into items (*guarded*: applied only while the file still holds what the
edit wrote), which take the configuration back.

Items say *what*, never *how*: where a new parameter goes, how a service is spelled
in master.cf, whether the stock commented-out block is enabled or a new entry added,
are the documents' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Match = Literal["raw", "effective"]
"""``raw``: the text in the file must be the value (an explicit ``pfedit set``).
``effective``: what Postfix makes of it (``$name`` expanded, in the service's context)
must equal the value or one of ``accept``; a setting that already meets the goal is
left as written (``-o smtpd_client_restrictions=$mua_client_restrictions`` stays)."""

Compare = Literal["text", "bool", "list"]
"""How effective values are compared: blanks trimmed; booleans case-insensitively;
lists element by element (``a,b`` equals ``a, b``)."""


@dataclass(frozen=True, slots=True)
class Param:
    """main.cf: ``name = value``; ``value=None``: not set (deleted, or commented out)."""

    name: str
    value: str | None
    match: Match = "raw"
    compare: Compare = "text"
    accept: tuple[str, ...] = ()
    remove: Literal["delete", "comment"] = "delete"
    note: str = ""
    guard: bool = False  # only if the raw value is still ``expect`` (None: not set)
    expect: str | None = None
    lines: tuple[tuple[int, str], ...] | None = None  # undo: the one-line definitions to put back exactly


@dataclass(frozen=True, slots=True)
class Table:
    """A lookup table source file (created if missing); ``secret``: mode 0600 (also when its
    content is already right). A postmap type is compiled when its source changes or its
    compiled files are missing or older; ``only``: every other key is deleted."""

    path: str  # absolute
    map_type: str
    secret: bool = False
    only: tuple[str, ...] | None = None
    state: Literal["present", "absent"] = "present"  # absent: removed with its compiled files, if empty


@dataclass(frozen=True, slots=True)
class Entry:
    """A key of a :class:`Table`: ``value=None`` means absent. ``secret`` values never
    appear in operations, diffs or messages."""

    path: str  # absolute, the same as the Table's
    key: str
    value: str | None
    secret: bool = False
    note: str = ""
    guard: bool = False  # only if the value is still the one whose sha256 is ``expect_sha256`` (None: absent)
    expect_sha256: str | None = None


Columns = dict[str, str]


@dataclass(frozen=True, slots=True)
class Service:
    """A master.cf entry. ``present``: it runs (the stock commented-out block is enabled when
    ``stock``, else a new entry is added with ``columns`` over ``new_columns`` and
    ``command`` or ``new_command``); ``absent``: removed; ``disabled``: commented out. For a present entry,
    ``columns`` and ``command``/``args`` given are enforced; the rest is left as it is."""

    name: str
    type: str
    state: Literal["present", "absent", "disabled"] = "present"
    columns: tuple[tuple[str, str], ...] = ()
    new_columns: tuple[tuple[str, str], ...] = ()  # only for a new entry
    new_command: str | None = None  # only for a new entry
    command: str | None = None
    args: tuple[str, ...] | None = None
    stock: bool = True
    options: tuple[tuple[str, str], ...] = ()  # written into a *new* entry's line (Option items: the rest)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Option:
    """``-o name=value`` of a master.cf entry; ``value=None``: not set there."""

    service: str
    type: str
    name: str
    value: str | None
    match: Match = "raw"
    compare: Compare = "text"
    accept: tuple[str, ...] = ()
    note: str = ""
    guard: bool = False  # only if the raw value is still ``expect`` (None: not set)
    expect: str | None = None


Item = Param | Table | Entry | Service | Option


@dataclass(frozen=True)
class Operation:
    """One change, in words safe to print: secret values are never stored here."""

    file: str
    action: str  # set, delete, comment-out, add-entry, update-entry, delete-entry, chmod, compile,
    #              enable-service, add-service, remove-service, disable-service, set-field, set-option, ...
    target: str
    old: str | None = None
    new: str | None = None
    note: str = ""

    def __str__(self) -> str:
        if self.action in ("set", "set-option", "set-field"):
            text = f"{self.target}: {self.old!r} -> {self.new!r}" if self.old is not None \
                else f"{self.target} = {self.new}"
        elif self.action in ("delete", "delete-option", "comment-out"):
            what = "remove" if self.action != "comment-out" else "comment out"
            text = f"{what} {self.target}" + (f" (was {self.old!r})" if self.old is not None else "")
        elif self.action == "chmod":
            text = f"chmod {self.new} {self.target} (was {self.old})"
        else:
            text = f"{self.action} {self.target}" + (f" = {self.new}" if self.new is not None else "")
        return text + (f"  ({self.note})" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "action": self.action, "target": self.target, "old": self.old,
                "new": self.new, "note": self.note}
