"""From desired items to edits: the one place that knows how each item is made true.

:func:`plan_items` loads what the items concern into a :class:`Transaction`, edits the
documents only where the files do not already say what the item wants, and returns
the :class:`Operation` list and the compiled maps to rebuild. It writes nothing and
runs no program: the pipeline (:mod:`postfix_conf.pipeline`) validates, stages and
commits. Operations are derived from the edits actually made, never written by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._text import split_list
from ._transaction import Transaction
from .errors import PostfixConfError
from .items import Entry, Item, Operation, Option, Param, Service, Table
from .main_cf import MainCf
from .maps import FILE_TYPES, MapRef, compiled_files
from .master_cf import MasterCf
from .master_cf import Service as ServiceEntry
from .view import ConfigView

COLUMNS = ("private", "unprivileged", "chroot", "wakeup", "process_limit")


class PlanError(PostfixConfError):
    """An item cannot be made true on these files; nothing was written."""


Undo = dict[str, Any]
"""What one edit replaced, JSON-ready (see :func:`undo_item`). Table values are secrets."""


@dataclass
class Planned:
    """What :func:`plan_items` did to the transaction's documents."""

    operations: list[Operation] = field(default_factory=list)
    compile: list[MapRef] = field(default_factory=list)  # maps whose compiled files must be rebuilt
    tables: dict[str, Table] = field(default_factory=dict)  # path -> the table item
    undo: list[Undo] = field(default_factory=list)  # one per edit, in the order made; "item": its index
    warnings: list[str] = field(default_factory=list)  # guarded items left alone, and why


def digest(value: str) -> str:
    """How a secret value is remembered (to recognise it later) without being stored."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


class _Planner:
    def __init__(self, tx: Transaction, config_dir: Path) -> None:
        self.tx = tx
        self.config_dir = config_dir
        self.out = Planned()
        self.index = 0  # the item being planned: each undo record says which one made it
        self._view: ConfigView | None = None

    # -- documents ------------------------------------------------------------------------------
    def main(self) -> MainCf:
        return self.tx.main_cf()

    def master(self) -> MasterCf:
        return self.tx.master_cf()

    def view(self, *, master: bool = False) -> ConfigView:
        """The effective configuration as the documents say *now* (rebuilt after each edit)."""
        if self._view is None or (master and self._view.master is None):
            self._view = ConfigView(self.config_dir, self.main(), self.master() if master else None)
        return self._view

    def record(self, op: Operation, undo: Undo | None = None) -> None:
        self.out.operations.append(op)
        if undo is not None:
            self.out.undo.append(undo | {"item": self.index})
        self._view = None

    def guard(self, ok: bool, what: str) -> bool:
        """A guarded (undo) item whose target changed since pfedit set it is left alone."""
        if not ok:
            self.out.warnings.append(f"{what} was changed since pfedit set it; left as it is")
        return ok

    # -- main.cf -----------------------------------------------------------------------------------
    def param(self, item: Param) -> None:
        main = self.main()
        old = main.get(item.name)
        if item.guard and not self.guard(old == item.expect, f"{main.path}: {item.name}"):
            return
        if item.match == "effective" and old is not None:
            effective = self.view().value(item.name)
            if _meets(effective, item.value, item.accept, item.compare):
                return
        path = str(main.path)
        if item.lines is not None and main.line_definitions(item.name) is not None:
            if main.restore_lines(item.name, list(item.lines)):  # an undo: the very lines that were there
                new = main.get(item.name)
                self.record(Operation(path, "set" if new is not None else "delete", item.name, old, new, item.note))
            return
        lines = main.line_definitions(item.name)
        saved = None if lines is None else [list(x) for x in lines]
        if item.value is None:
            if old is None:
                return
            undo = {"kind": "param", "name": item.name, "before": old, "after": None, "lines": saved}
            if item.remove == "comment":
                main.comment_out(item.name)
                self.record(Operation(path, "comment-out", item.name, old, None, item.note), undo)
            else:
                main.delete(item.name)
                self.record(Operation(path, "delete", item.name, old, None, item.note), undo)
        elif main.set(item.name, item.value):
            new = main.get(item.name)
            self.record(Operation(path, "set", item.name, old, new, item.note),
                        {"kind": "param", "name": item.name, "before": old, "after": new, "lines": saved})

    # -- tables ------------------------------------------------------------------------------------
    def table(self, item: Table) -> None:
        if item.map_type not in FILE_TYPES:
            raise PlanError(f"map type {item.map_type!r} is not a postmap file type "
                            f"({', '.join(sorted(FILE_TYPES))})")
        if not os.path.isabs(item.path):
            raise PlanError(f"{item.path}: the table's path must be absolute")
        self.out.tables[item.path] = item
        existed = os.path.lexists(item.path)
        self.tx.table(item.path, secret=item.secret, create=True)
        if item.state == "absent":
            return  # decided in finish_tables, once the entries are done
        if not existed and not any(u.get("kind") == "table" and u["path"] == item.path for u in self.out.undo):
            self.out.undo.append({"kind": "table", "path": item.path, "map_type": item.map_type,
                                  "secret": item.secret, "created": True, "item": self.index})

    def entry(self, item: Entry) -> None:
        spec = self.out.tables.get(item.path)
        if spec is None:
            raise PlanError(f"{item.path}: an entry needs its Table item first")
        table = self.tx.table(item.path, secret=spec.secret, create=True)
        old = table.get(item.key)
        if item.guard and not self.guard((None if old is None else digest(old)) == item.expect_sha256,
                                         f"{item.path}: the entry for {item.key}"):
            return
        if item.value is None:
            if old is not None and table.delete(item.key):
                self.record(Operation(item.path, "delete-entry", item.key, note=item.note),
                            {"kind": "entry", "path": item.path, "map_type": spec.map_type, "secret": spec.secret,
                             "key": item.key, "before": old, "after_sha256": None})
            return
        if old == item.value:
            return
        table.set(item.key, item.value)
        hide = item.secret or spec.secret
        self.record(Operation(item.path, "add-entry" if old is None else "update-entry", item.key,
                              None if hide else old, None if hide else item.value, item.note),
                    {"kind": "entry", "path": item.path, "map_type": spec.map_type, "secret": spec.secret,
                     "key": item.key, "before": old, "after_sha256": digest(item.value)})

    def finish_tables(self) -> None:
        """Compile what changed or is stale; make secret files (source and compiled) private."""
        for path, spec in self.out.tables.items():
            if spec.only is not None:
                doc = self.tx.table(path, secret=spec.secret, create=True)
                wanted = {doc.lookup_key(k) for k in spec.only}
                for stored in list(doc.entries()):
                    if stored not in wanted and doc.delete(stored):
                        self.record(Operation(path, "delete-entry", stored))
        for path, spec in list(self.out.tables.items()):
            if spec.state == "absent":
                self._remove_table(path, spec)
        fixes = self.tx.mode_fixes()
        for path, spec in self.out.tables.items():
            if spec.state == "absent":
                continue
            doc = self.tx.table(path, secret=spec.secret, create=True)
            if path in fixes:
                self.record(Operation(path, "chmod", path, f"{fixes[path]:04o}", f"{fixes[path] & ~0o077:04o}",
                                      "the file holds secrets"))
            ref = MapRef(f"{spec.map_type}:{path}", spec.map_type, path)
            if not ref.compiles:
                continue
            if doc.changed:
                self.out.compile.append(ref)  # the entry operations say why
                continue
            if ref.stale():
                self.out.compile.append(ref)
                self.record(Operation(path, "postmap", ref.spec, note="compiled map missing or older than its source"))
                continue
            if spec.secret:
                for compiled in compiled_files(spec.map_type, path):
                    mode = _mode(compiled)
                    if mode is not None and mode & 0o077:
                        self.tx.add_bytes(compiled, compiled.read_bytes(), secret=True, uid=_root_if_root())
                        self.record(Operation(str(compiled), "chmod", str(compiled), f"{mode:04o}",
                                              f"{mode & ~0o077:04o}", "the file holds secrets"))

    def _remove_table(self, path: str, spec: Table) -> None:
        """An absent table goes with its compiled files, but only once no entry is left in it."""
        doc = self.tx.table(path, secret=spec.secret, create=True)
        if not os.path.lexists(path):
            return
        if doc.entries():
            self.out.warnings.append(f"{path} still has entries pfedit did not add; left in place")
            return
        for file in [Path(path), *compiled_files(spec.map_type, path)]:
            if file.exists():
                self.tx.remove(file)
                self.record(Operation(str(file), "remove-file", str(file), note="created by pfedit, now empty"))

    # -- master.cf ---------------------------------------------------------------------------------
    def service(self, item: Service) -> None:
        master = self.master()
        path, key = str(master.path), f"{item.name}/{item.type}"
        if item.state == "absent":
            if master.remove(item.name, item.type):
                self.record(Operation(path, "remove-service", key, note=item.note))
            return
        if item.state == "disabled":
            if master.disable(item.name, item.type):
                self.record(Operation(path, "disable-service", key, note=item.note),
                            {"kind": "service", "name": item.name, "type": item.type, "how": "disabled"})
            return
        columns = dict(item.columns)
        if (item.name, item.type) not in master:
            if item.stock and master.disabled(item.name, item.type):
                master.enable(item.name, item.type, which="last")
                self.record(Operation(path, "enable-service", key, note="uncommented the stock block"),
                            {"kind": "service", "name": item.name, "type": item.type, "how": "enabled"})
            elif (item.command or item.new_command) is None:
                raise PlanError(f"{key} is neither in {path} nor commented out there; give its command "
                                "(and columns) to add it")
            else:
                layout = dict(item.new_columns) | columns
                private, unpriv, chroot, wakeup, maxproc = (layout.get(c, "-") for c in COLUMNS)
                command = item.command or item.new_command
                assert command is not None
                master.add_service(item.name, item.type, private, unpriv, chroot, wakeup, maxproc, command,
                                   args=tuple(item.args or ()), options=dict(item.options))
                self.record(Operation(path, "add-service", key, note=item.note),
                            {"kind": "service", "name": item.name, "type": item.type, "how": "added"})
        for col, value in columns.items():
            current = master.get(item.name, item.type)
            old = current.fields[col] if current is not None else None
            if master.set_field(item.name, item.type, col, value):
                self.record(Operation(path, "set-field", f"{key}/{col}", old, value))
        self._command(master, item, path, key)

    def _command(self, master: MasterCf, item: Service, path: str, key: str) -> None:
        service = master.get(item.name, item.type)
        if service is None or (item.command is None and item.args is None):
            return
        option_args, other = _split_args(service)
        new = service
        if item.command is not None and item.command != service.command:
            new = dataclasses.replace(new, command=item.command)
        if item.args is not None and tuple(item.args) != other:
            new = dataclasses.replace(new, args=option_args + tuple(item.args))
        if new != service and master.set_field(item.name, item.type, "command", new.command_line):
            self.record(Operation(path, "set-field", key + "/command", service.command_line, new.command_line))

    def option(self, item: Option) -> None:
        master = self.master()
        path, target = str(master.path), f"{item.service}/{item.type}/{item.name}"
        service = master.get(item.service, item.type)
        if service is None:
            raise PlanError(f"{item.service}/{item.type} is not in {path}; an option needs its service")
        old = service.options.get(item.name)
        if item.guard and not self.guard(old == item.expect, f"{path}: {target}"):
            return
        if item.match == "effective" and old is not None:
            effective = self.view(master=True).value(item.name, self._live(item))
            if _meets(effective, item.value, item.accept, item.compare):
                return
        undo = {"kind": "option", "service": item.service, "type": item.type, "name": item.name, "before": old,
                "after": item.value}
        if item.value is None:
            if old is not None and master.delete_option(item.service, item.type, item.name):
                self.record(Operation(path, "delete-option", target, old, None, item.note), undo)
        elif master.set_option(item.service, item.type, item.name, item.value):
            self.record(Operation(path, "set-option", target, old, item.value, item.note), undo)

    def _live(self, item: Option) -> ServiceEntry | None:
        return self.view(master=True).service(item.service, item.type)


def plan_items(tx: Transaction, config_dir: str | os.PathLike[str], items: Sequence[Item]) -> Planned:
    """Edit the documents of ``tx`` so that every item holds; return what was done."""
    planner = _Planner(tx, Path(os.path.abspath(config_dir)))
    for planner.index, item in enumerate(items):
        if isinstance(item, Param):
            planner.param(item)
        elif isinstance(item, Table):
            planner.table(item)
        elif isinstance(item, Entry):
            planner.entry(item)
        elif isinstance(item, Service):
            planner.service(item)
        else:
            planner.option(item)
    planner.finish_tables()
    return planner.out


def undo_item(record: Undo) -> Item:
    """The guarded item that puts back what one edit replaced (see :class:`Planned.undo`)."""
    kind = record["kind"]
    if kind == "param":
        lines = record.get("lines")
        return Param(record["name"], record["before"], guard=True, expect=record["after"], note="put back",
                     lines=None if lines is None else tuple((int(pos), str(raw)) for pos, raw in lines))
    if kind == "entry":
        return Entry(record["path"], record["key"], record["before"], secret=True, guard=True,
                     expect_sha256=record["after_sha256"], note="put back")
    if kind == "option":
        return Option(record["service"], record["type"], record["name"], record["before"], guard=True,
                      expect=record["after"], note="put back")
    if kind == "service":
        state = {"enabled": "disabled", "added": "absent", "disabled": "present"}[record["how"]]
        return Service(record["name"], record["type"], state=state, note="put back")  # type: ignore[arg-type]
    if kind == "table":
        return Table(record["path"], record["map_type"], secret=record["secret"], state="absent")
    raise ValueError(f"unknown undo record kind {kind!r}")


def undo_items(records: Sequence[Undo]) -> list[Item]:
    """Items that take back a run's edits, in reverse order. The tables come first (an entry
    needs its table): a table pfedit created goes once it is empty again; any other is kept,
    and recompiled."""
    tables: dict[str, Item] = {}
    for r in records:
        if r["kind"] == "entry":
            tables.setdefault(r["path"], Table(r["path"], r["map_type"], secret=r["secret"]))
    for r in records:
        if r["kind"] == "table":
            tables[r["path"]] = undo_item(r)
    return [*tables.values(), *(undo_item(r) for r in reversed(records) if r["kind"] != "table")]


def _normal(value: str, compare: str) -> object:
    if compare == "list":
        return split_list(value)
    text = value.strip(" \t\r\n")
    return text.lower() if compare == "bool" else text


def _meets(effective: str, goal: str | None, accept: tuple[str, ...], compare: str) -> bool:
    """The effective value already is the goal (or one of the accepted alternatives)."""
    wanted = [g for g in (goal, *accept) if g is not None]
    have = _normal(effective, compare)
    return any(have == _normal(w, compare) for w in wanted)


def _split_args(service: ServiceEntry) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the ``-o name=value`` pairs, the other arguments) of a service's normalised argv."""
    options: list[str] = []
    other: list[str] = []
    args, i = service.args, 0
    while i < len(args):
        if args[i] == "-o" and i + 1 < len(args):
            options += args[i:i + 2]
            i += 2
        else:
            other.append(args[i])
            i += 1
    return tuple(options), tuple(other)


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return None


def _root_if_root() -> int | None:
    """Compiled password maps are root's when we run as root (postmap keeps the source's owner)."""
    return 0 if os.geteuid() == 0 else None
