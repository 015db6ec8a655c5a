"""Which relay accounts pfedit set up, and what each one replaced: the recipe's state.

Kept in :mod:`postfix_conf.state` under ``"relay-auth"``::

    {"accounts": {"": {...the default account...}, "alice@example.jp": {...}},
     "shared": [undo records of the settings every account needs]}

An account's record holds what the user asked for (relay, user name, TLS mode, the
address its mail is rewritten to; never the password) and the undo records of the edits
made for it. Undo records of one target are merged across runs: the *first* ``before``
(what was there before pfedit) is kept, the latest ``after`` (what pfedit wrote last).
"""

from __future__ import annotations

from typing import Any

from ..planner import Planned, Undo, digest
from ..state import StateFile

KEY = "relay-auth"
DEFAULT = ""  # the account of relayhost (no --sender)


def _identity(record: Undo) -> tuple[Any, ...]:
    kind = record["kind"]
    if kind == "param":
        return kind, record["name"]
    if kind == "entry":
        return kind, record["path"], record["key"].lower()
    if kind == "option":
        return kind, record["service"], record["type"], record["name"]
    if kind == "service":
        return kind, record["name"], record["type"]
    return kind, record["path"]


def merge(old: list[Undo], new: list[Undo]) -> list[Undo]:
    """``old`` updated with ``new``: first ``before`` kept, last ``after`` taken.

    A target that ends up exactly as it was before pfedit (``after`` == ``before``) needs no
    undo any more and is dropped.
    """
    out = [dict(r) for r in old]
    where = {_identity(r): n for n, r in enumerate(out)}
    for record in new:
        clean = {k: v for k, v in record.items() if k != "item"}
        n = where.get(_identity(clean))
        if n is None:
            where[_identity(clean)] = len(out)
            out.append(clean)
            continue
        for key in ("after", "after_sha256", "how"):
            if key in clean:
                out[n][key] = clean[key]
    return [r for r in out if not _noop(r)]


def _noop(record: Undo) -> bool:
    if record["kind"] in ("param", "option"):
        return bool(record["before"] == record["after"])
    if record["kind"] == "entry":
        before = record["before"]
        return bool((None if before is None else digest(before)) == record["after_sha256"])
    return False


class Accounts:
    """The relay-auth part of the state file, read and written through one document."""

    def __init__(self, state: StateFile) -> None:
        self.doc = state
        self.data = state.data()
        section = self.data.get(KEY) or {}
        self.accounts: dict[str, dict[str, Any]] = dict(section.get("accounts") or {})
        self.shared: list[Undo] = list(section.get("shared") or [])

    def get(self, sender: str) -> dict[str, Any] | None:
        return self.accounts.get(sender.lower())

    def others(self, sender: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.accounts.items() if k != sender.lower()}

    def record(self, sender: str, info: dict[str, Any], planned: Planned, shared: set[int]) -> None:
        """Add this run's undo records: those of the items in ``shared`` are the shared settings'."""
        mine = [r for r in planned.undo if r["item"] not in shared]
        common = [r for r in planned.undo if r["item"] in shared]
        key = sender.lower()
        old = self.accounts.get(key, {}).get("undo", [])
        self.accounts[key] = info | {"undo": merge(old, mine)}
        self.shared = merge(self.shared, common)

    def forget(self, sender: str) -> tuple[list[Undo], list[Undo]]:
        """Drop an account: (its undo records, the shared ones when it was the last)."""
        gone = self.accounts.pop(sender.lower())
        shared: list[Undo] = []
        if not self.accounts:
            shared, self.shared = self.shared, []
        return list(gone.get("undo", [])), shared

    def save(self, drop: Any) -> None:
        """Write the state back (``drop()`` removes the file when nothing is left to record)."""
        if not self.accounts and not self.shared:
            rest = {k: v for k, v in self.data.items() if k not in (KEY, "format")}
            if not rest:
                drop()
                return
            self.doc.replace(rest)
            return
        self.doc.replace(self.data | {KEY: {"accounts": self.accounts, "shared": self.shared}})
