"""One pipeline for every write: plan -> validate -> stage -> commit -> reload.

Every caller (``pfedit set``/``unset``, ``pfedit apply <recipe>``, each Ansible module)
runs the same phases, so each guarantee holds for all of them:

* **plan** (:func:`plan`): the files are read *under Postfix's edit lock* (a
  concurrent ``postconf -e`` or pfedit waits, none is refused, no edit is lost), the
  recipe turns its parameters into desired items, the planner edits the documents
  where they differ. Nothing is written; the plan can be shown (operations, diff with
  secrets masked) and dropped.
* **validate** (:func:`apply`): the new main.cf/master.cf are read by ``postconf``
  (only errors the edit *adds* count), every table type must be one ``postconf -m``
  lists, and an optional live check (``verify``) may veto.
* **stage**: every compiled map is built by ``postmap`` from the *new* source and the
  *new* main.cf, in a scratch directory; its bytes join the transaction.
* **commit**: all files, sources and compiled maps, are swapped into place together.
* **reload** (on request): ``postfix check`` and ``postfix reload``; if either fails,
  every file is put back as it was.

A failure before the commit point raises :class:`BeforeCommitError` (nothing was
written); a failure after it that could not be undone raises :class:`AfterCommitError`,
which says what was written. :class:`Result` is all a caller needs to render.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._file_errors import TransactionError
from ._lock import DEFAULT_LOCK_TIMEOUT
from ._transaction import LockOrderError, Transaction
from .document import Document
from .errors import PostfixConfError
from .items import Item, Operation
from .main_cf import MainCf
from .maps import COMPILED_SUFFIXES
from .master_cf import MasterCf
from .planner import Planned, plan_items
from .secrets import mask, redact_table_diff
from .state import STATE_FILE, StateFile
from .table import LookupTable
from .view import ConfigView

MAX_LOCK_ATTEMPTS = 8


class PipelineError(PostfixConfError):
    """A write failed at ``phase`` (plan, validate, verify, stage, commit, reload)."""

    def __init__(self, phase: str, message: str, *, written: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.phase = phase
        self.written = tuple(written)


class BeforeCommitError(PipelineError):
    """The write stopped before the commit point (or was fully undone): every file is as it was."""


class AfterCommitError(PipelineError):
    """Files were written and could not all be put back; ``written`` names them."""


@dataclass
class Desired:
    """What a recipe wants: the items, warnings for the user, strings no output may show.

    ``finish`` runs after the items are planned, in the same transaction: a recipe records
    there what it did (:meth:`Reader.state`), from the planner's undo records."""

    items: list[Item]
    warnings: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    finish: Callable[[Reader, Planned], None] | None = None


class Reader:
    """What a recipe may look at while it decides: the files being planned, read-only."""

    def __init__(self, tx: Transaction, config_dir: Path) -> None:
        self._tx = tx
        self.config_dir = config_dir

    def main(self) -> MainCf:
        return self._tx.main_cf()

    def master(self) -> MasterCf:
        return self._tx.master_cf()

    def view(self, *, master: bool = False) -> ConfigView:
        return ConfigView(self.config_dir, self.main(), self.master() if master else None)

    def table(self, path: str | os.PathLike[str], *, secret: bool = False) -> LookupTable:
        """The table as it is (empty when the file does not exist yet)."""
        return self._tx.table(path, secret=secret, create=True)

    def state(self) -> StateFile:
        """pfedit's state file (:mod:`postfix_conf.state`), the one document a recipe edits itself."""
        return self._tx.load(STATE_FILE, StateFile, secret=True, create=True)

    def drop_state(self) -> None:
        """Nothing is recorded any more: the state file goes with this transaction."""
        self._tx.remove(STATE_FILE)


Recipe = Callable[[Reader], Desired]


@dataclass
class Plan:
    """The edits of one run, not yet written."""

    config_dir: Path
    transaction: Transaction
    planned: Planned
    desired: Desired

    @property
    def operations(self) -> list[Operation]:
        return self.planned.operations

    @property
    def warnings(self) -> list[str]:
        return [self.mask(w) for w in [*self.desired.warnings, *self.planned.warnings]]

    @property
    def changed(self) -> bool:
        return bool(self.transaction.pending() or self.planned.compile)

    def files(self) -> list[str]:
        return sorted({op.file for op in self.operations})

    def mask(self, text: str) -> str:
        return mask(text, self.desired.secrets)

    def shown(self) -> dict[str, Document]:
        """The changed documents a user reviews (pfedit's own state file is not one of them)."""
        return {p: d for p, d in sorted(self.transaction.documents.items())
                if d.changed and not isinstance(d, StateFile)}

    def diff(self) -> str:
        """Unified diff of every changed file; secret tables' values and every secret masked.
        A removed file shows as removed (``+++ /dev/null``); compiled maps are binary."""
        secret = {p for p, t in self.planned.tables.items() if t.secret}
        parts = []
        for path, doc in self.shown().items():
            text = doc.diff(fromfile=f"a{path}", tofile=f"b{path}")
            parts.append(redact_table_diff(text) if path in secret else text)
        for path, old in self.transaction.removals().items():
            if Path(path).name == STATE_FILE or path.endswith(COMPILED_SUFFIXES):
                continue
            gone = _removed_diff(path, old)
            parts.append(redact_table_diff(gone) if path in secret else gone)
        return self.mask("".join(parts))

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "config_dir": str(self.config_dir),
                "operations": [{k: self.mask(v) if isinstance(v, str) else v for k, v in op.to_dict().items()}
                               for op in self.operations],
                "warnings": self.warnings}

    def discard(self) -> None:
        self.transaction.discard()


@dataclass
class Result:
    """What a run did. ``written`` is the truth: a file is in it only if its bytes changed."""

    plan: Plan
    written: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    backups: dict[str, str] = field(default_factory=dict)
    compiled: tuple[str, ...] = ()  # "type:/path" of each map rebuilt by postmap
    reloaded: bool = False
    messages: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written)


def plan(config_dir: str | os.PathLike[str], recipe: Recipe, *, lock: bool = True, backup: bool = False,
         lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Plan:
    """Read the files (under the edit lock unless ``lock=False``) and compute every edit.

    A :class:`PostfixConfError` from here means nothing was written (it is raised as a
    :class:`BeforeCommitError` of phase ``plan``, the original as its cause).
    """
    directory = Path(os.path.abspath(config_dir))
    prelock: list[str] = []
    for _ in range(MAX_LOCK_ATTEMPTS):
        tx = Transaction(directory, backup=backup, lock=lock, lock_timeout=lock_timeout)
        try:
            if prelock:
                tx.prelock(prelock)
            reader = Reader(tx, directory)
            desired = recipe(reader)
            planned = plan_items(tx, directory, desired.items)
            if desired.finish is not None:
                desired.finish(reader, planned)
            return Plan(directory, tx, planned, desired)
        except LockOrderError as exc:
            tx.discard()
            prelock = exc.paths
        except PipelineError:
            tx.discard()
            raise
        except PostfixConfError as exc:
            tx.discard()
            raise BeforeCommitError("plan", str(exc)) from exc
        except BaseException:
            tx.discard()
            raise
    raise BeforeCommitError("plan", "other editors kept the files busy; nothing was written (try again)")


def apply(plan: Plan, *, postmap: bool = True, reload: bool = False, validate: bool = True,
          verify: Callable[[Plan], None] | None = None) -> Result:
    """Validate, stage, commit and (optionally) reload. See the module docstring."""
    from . import postfix_tools as tools  # subprocess code only when something runs

    result = Result(plan)
    tx = plan.transaction
    scratch = Path(tempfile.mkdtemp(prefix="pfedit-stage-"))
    try:
        try:
            new_config = _validate(plan, tools, scratch, validate)
            if verify is not None:
                verify(plan)
            result.compiled = _stage_maps(plan, tools, new_config, scratch, postmap, result.messages)
        except PipelineError:
            raise
        except PostfixConfError as exc:
            raise BeforeCommitError("validate", f"{plan.mask(str(exc))}; nothing was written") from exc
        try:
            committed = tx.commit(hold=reload)
        except TransactionError as exc:
            cls = AfterCommitError if exc.new else BeforeCommitError
            raise cls("commit", plan.mask(str(exc)), written=exc.new) from exc
    except BaseException:
        if tx.state == "open":
            tx.discard()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.written, result.created = committed.written, committed.created
    result.backups = dict(committed.backups)
    if reload:
        _reload(plan, tools, result)
    elif result.written:
        result.messages.append(f"a running Postfix needs: postfix -c {plan.config_dir} reload (or use --reload)")
    return result


def run(config_dir: str | os.PathLike[str], recipe: Recipe, *, backup: bool = False, postmap: bool = True,
        reload: bool = False, validate: bool = True, verify: Callable[[Plan], None] | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Result:
    """:func:`plan` then :func:`apply` (or nothing, when there is nothing to do)."""
    p = plan(config_dir, recipe, backup=backup, lock_timeout=lock_timeout)
    if not p.changed:
        p.discard()
        return Result(p)
    return apply(p, postmap=postmap, reload=reload, validate=validate, verify=verify)


# -- phases -------------------------------------------------------------------------------------
def _new_contents(plan: Plan) -> dict[str, bytes]:
    """main.cf/master.cf as they will be (the planned documents, else the files on disk)."""
    out: dict[str, bytes] = {}
    docs = {Path(p): d for p, d in plan.transaction.documents.items()}
    for name in ("main.cf", "master.cf"):
        path = plan.config_dir / name
        doc = docs.get(path)
        if doc is not None:
            out[name] = doc.to_bytes()
        elif path.exists():
            out[name] = path.read_bytes()
    return out


def _validate(plan: Plan, tools: Any, scratch: Path, validate: bool) -> Path:
    """Return a scratch config dir holding the new main.cf/master.cf (for postmap too)."""
    contents = _new_contents(plan)
    new_dir = scratch / "new"
    if validate and any(Path(p).parent == plan.config_dir and Path(p).name in ("main.cf", "master.cf")
                        and d.changed for p, d in plan.transaction.documents.items()):
        problems = tools.stage_and_validate(plan.config_dir, contents, scratch)
        if problems:
            raise BeforeCommitError("validate", "postconf rejects the new configuration; nothing was written:\n  "
                                    + "\n  ".join(plan.mask(p) for p in problems))
    new_dir.mkdir(parents=True, exist_ok=True)
    for name in ("main.cf", "master.cf"):
        (new_dir / name).write_bytes(contents.get(name, b""))
        os.utime(new_dir / name, (978307200, 978307200))  # postconf re-reads "hot" main.cf files
    kinds = {t.map_type for t in plan.planned.tables.values()}
    if kinds:
        supported = tools.map_types(tools.empty_config_dir(scratch))  # what is installed, whatever main.cf says
        missing = sorted(k for k in kinds if supported is not None and k not in supported)
        if missing:
            raise BeforeCommitError("validate", f"this Postfix does not support the map type {missing[0]!r} "
                                    f"(postconf -m lists: {', '.join(sorted(supported or ()))}); "
                                    "install its package or choose another type; nothing was written")
    return new_dir


def _stage_maps(plan: Plan, tools: Any, new_config: Path, scratch: Path, postmap: bool,
                messages: list[str]) -> tuple[str, ...]:
    """Compile each map from its new source in ``scratch``; the bytes join the transaction."""
    done: list[str] = []
    for n, ref in enumerate(plan.planned.compile):
        if not postmap:
            messages.append(f"run: postmap -c {plan.config_dir} {ref.spec}")
            continue
        spec = plan.planned.tables[ref.name]
        work = scratch / "maps" / str(n)
        work.mkdir(parents=True)
        source = work / Path(ref.name).name
        doc = plan.transaction.documents.get(ref.name)
        data = doc.to_bytes() if doc is not None else Path(ref.name).read_bytes()
        fd = os.open(source, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        ran = tools.run_tool("postmap", ["-c", str(new_config), f"{ref.kind}:{source}"])
        if not ran.ok:
            why = ran.stderr.strip() or ran.stdout.strip()
            if ran.returncode < 0:
                why = f"killed by signal {-ran.returncode}" + (f": {why}" if why else "")
            raise BeforeCommitError("stage", f"postmap failed for {ref.spec}: {plan.mask(why or str(ran.returncode))}"
                                    "; nothing was written")
        for target in ref.compiled():
            built = work / (source.name + target.name[len(Path(ref.name).name):])
            if not built.is_file():
                raise BeforeCommitError("stage", f"postmap did not create {built.name} for {ref.spec}; "
                                        "nothing was written")
            plan.transaction.add_bytes(target, built.read_bytes(), secret=spec.secret,
                                       uid=0 if spec.secret and os.geteuid() == 0 else None)
        done.append(ref.spec)
    return tuple(done)


def _reload(plan: Plan, tools: Any, result: Result) -> None:
    """``postfix check`` + ``postfix reload`` with the new files held; on failure put them back."""
    tx = plan.transaction
    if not result.written:
        tx.release()
        return
    try:
        if not tools.postfix_status(plan.config_dir).ok:
            result.messages.append("Postfix is not running; nothing to reload (the new settings apply when it "
                                   "starts)")
            tx.release()
            return
        checked = tools.postfix_check(plan.config_dir)
        failure = None if checked.ok else f"postfix check failed: {_output(checked)}"
        if failure is None:
            done = tools.postfix_reload(plan.config_dir)
            failure = None if done.ok else f"postfix reload failed: {_output(done)}"
    except PostfixConfError as exc:
        failure = str(exc)
    except BaseException:
        tx.rollback()
        raise
    if failure is None:
        tx.release()
        result.reloaded = True
        return
    left = tx.rollback()
    if left:
        raise AfterCommitError("reload", plan.mask(f"{failure}; could not put back: {', '.join(left)}"),
                               written=[w for w in result.written if w in left] or result.written)
    raise BeforeCommitError("reload", plan.mask(f"{failure}; every file was put back as it was, "
                                                "nothing was changed"))


def _removed_diff(path: str, old: bytes) -> str:
    lines = old.decode("utf-8", "surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return f"--- a{path}\n+++ /dev/null\n"
    return f"--- a{path}\n+++ /dev/null\n@@ -1,{len(lines)} +0,0 @@\n" + "".join(f"-{ln}\n" for ln in lines)


def _output(ran: Any) -> str:
    text = str(ran.stderr).strip() or str(ran.stdout).strip()
    return text or f"exit status {ran.returncode}; see Postfix's mail log"
