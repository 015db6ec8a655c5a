# Copyright: pfedit contributors
# MIT License (see the pfedit project)
"""What the pfedit.postfix modules share: a thin adapter from Ansible to ``postfix_conf``.

Every decision about Postfix files (parsing, edits, placement, safe writes, masking,
postmap, validation) is made by the bundled ``postfix_conf`` library; this file only
turns module parameters into library calls and library results into Ansible results:

* one :class:`Run` per task wraps one ``postfix_conf`` ``Transaction`` (all files of
  the task are committed together or not at all, with the library's locked, atomic,
  attribute-preserving writes);
* ``changed`` is true only when bytes change (or a map had to be recompiled / a mode
  fixed); in check mode nothing is written;
* ``--diff`` gets before/after text per file, lookup-table values masked;
* warnings come from ``postfix_conf.check`` when the bundle has it, else from the
  edited documents' own diagnostics.
"""

from __future__ import annotations

import atexit
import importlib.machinery
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

MIN_PYTHON = (3, 11)
LIBRARY_IMPORT_ERROR = None

try:
    from ansible_collections.pfedit.postfix.plugins.module_utils import postfix_conf as _library
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf import (
        ConfigDir,
        PostfixConfError,
        postfix_tools,
    )
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf import data as _data
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf import table as _table
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.recipes import relay_auth
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.recipes.operation import Operation
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.recipes.secrets import (
        mask,
        redact_table_diff,
    )
except Exception:  # not bundled (built without ansible/build.py), or too old a Python on the managed host
    LIBRARY_IMPORT_ERROR = traceback.format_exc()


def _alias_absolute_names():
    """Make ``postfix_conf.*`` name the *bundled* modules in this module process.

    TEMPORARY, until postfix_conf imports its own submodules relatively:
    ``postfix_conf._transaction`` loads ``postfix_conf.master_cf`` and
    ``postfix_conf.table`` with ``importlib.import_module`` by their absolute names.
    Bundled, those names do not exist on a bare host, and on a host that has another
    postfix_conf installed they would mix two copies of the library (a table from the
    other copy is not an instance of the bundled ``LookupTable``, and its values would
    not be masked in diffs). The AnsiballZ process runs only this module, so the
    aliases affect nothing else.
    """
    prefix = _library.__name__
    for name, module in list(sys.modules.items()):
        if name == prefix or name.startswith(prefix + "."):
            sys.modules["postfix_conf" + name[len(prefix):]] = module


def _bundled_data():
    """Let ``importlib.resources`` find the library's data files inside AnsiballZ.

    TEMPORARY, until postfix_conf can read its data without package data files:
    AnsiballZ ships only ``.py`` files, so the data files in ``postfix_conf/data/`` are
    missing from the zip. ansible/build.py embeds them in ``pfedit_data_files.py``; here they are
    written to a private temporary directory (removed at exit) and the bundled
    ``postfix_conf.data`` package gets a loader rooted there, so every reader
    (``files(__package__)``, ``files("postfix_conf.data")``) works unchanged.
    """
    try:
        _data.builtin_parameters()
        return  # the package data is readable (run from a directory tree, or the library ships it as code)
    except (OSError, KeyError):
        pass
    from ansible_collections.pfedit.postfix.plugins.module_utils.pfedit_data_files import FILES

    where = tempfile.mkdtemp(prefix="pfedit-data-")
    atexit.register(shutil.rmtree, where, True)
    for name, text in FILES.items():
        Path(where, name).write_text(text, "utf-8")
    init = os.path.join(where, "__init__.py")
    Path(init).write_text("", "utf-8")
    loader = importlib.machinery.SourceFileLoader(_data.__name__, init)
    _data.__spec__.loader = loader
    _data.__loader__ = loader


if LIBRARY_IMPORT_ERROR is None:
    _alias_absolute_names()
    _bundled_data()


# -- module set-up ------------------------------------------------------------------------------
def require_library(module):
    """Fail cleanly (no traceback in the message) when the bundled library cannot be used."""
    if sys.version_info < MIN_PYTHON:
        module.fail_json(msg="pfedit.postfix needs Python {}.{} or later on the managed host (found {}); set "
                             "ansible_python_interpreter".format(*MIN_PYTHON, sys.version.split()[0]))
    if LIBRARY_IMPORT_ERROR is not None:
        module.fail_json(msg="the bundled postfix_conf library cannot be imported; build the collection with "
                             "ansible/build.py", exception=LIBRARY_IMPORT_ERROR)


def config_dir(value):
    """The directory the CLI would use: the option, else ``$MAIL_CONFIG``, else /etc/postfix."""
    return Path(value or os.environ.get("MAIL_CONFIG") or "/etc/postfix")


def scalar(what, value):
    """A YAML scalar as the text Postfix should see.

    ``yes``/``no`` arrive as booleans and numbers as ints (written as Postfix spells
    them); a list is almost always ``[host]`` unquoted and a float loses digits
    (``3.10`` -> ``3.1``), so both are refused with the fix.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        raise ValueError(f"{what}: YAML read {value!r} as a number, which may have lost digits (3.10 -> 3.1); "
                         "quote the value")
    if isinstance(value, (list, dict)):
        raise ValueError(f"{what}: YAML read the value as a {type(value).__name__} (an unquoted [host] is a "
                         "list); quote the value")
    raise ValueError(f"{what}: unsupported value type {type(value).__name__}")


def operation(op):
    """An ``Operation`` as the relay recipe's JSON shows it."""
    return {"file": op.file, "action": op.action, "target": op.target, "old": op.old, "new": op.new, "note": op.note}


# -- diffs ----------------------------------------------------------------------------------------
def _text(data):
    return data.decode("utf-8", "replace")


def redact_table_text(text):
    """A whole lookup table with every value masked (the library's diff masking, line by line)."""
    masked = redact_table_diff("\n".join(" " + line for line in text.split("\n")))
    return "\n".join(line[1:] for line in masked.split("\n"))


def file_diffs(documents, secrets=()):
    """Ansible's before/after diff for every changed document; lookup tables masked."""
    diffs = []
    for path, doc in sorted(documents.items()):
        if not doc.changed:
            continue
        before, after = _text(doc.source), _text(doc.to_bytes())
        if isinstance(doc, _table.LookupTable):
            before, after = redact_table_text(before), redact_table_text(after)
        diffs.append({"before_header": path, "after_header": path,
                      "before": mask(before, list(secrets)), "after": mask(after, list(secrets))})
    return diffs


# -- findings -------------------------------------------------------------------------------------
def _check_function():
    try:
        from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.check import check
    except ImportError:
        return None
    _alias_absolute_names()  # its submodules, too
    return check


def _finding(item):
    get = item.get if isinstance(item, dict) else (lambda key, default=None: getattr(item, key, default))
    file = get("file", None)
    if file is None:
        file = get("path", None)
    return {"code": get("code", None), "severity": str(get("severity", "warning") or "warning"),
            "file": None if file is None else str(file), "line": get("line", None),
            "message": str(get("message", "")), "fix": get("fix", None)}


def _same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def postfix_version(directory):
    """The installed Postfix's ``mail_version``, else 3.7 (what ``pfedit check`` assumes)."""
    if postfix_tools.find_tool("postconf") is None:
        return "3.7"
    args = ["-d", "-h", "mail_version"]
    if (Path(directory) / "main.cf").is_file():
        args = ["-c", str(directory), *args]
    try:
        result = postfix_tools.run_tool("postconf", args, timeout=20)
    except (PostfixConfError, OSError, TimeoutError):
        return "3.7"
    value = result.stdout.strip()
    return value if result.ok and value else "3.7"


def findings(directory, documents, files):
    """Findings about ``files``: from ``postfix_conf.check`` if bundled, else the documents' diagnostics.

    Returns ``(findings, note)``; ``note`` says why check was not used, if it failed.
    """
    note = None
    check = _check_function()
    if check is not None:
        try:
            found = [_finding(f) for f in check(directory, postfix_version=postfix_version(directory))]
        except Exception as exc:  # the check package is young: never fail a task because of it
            note = f"pfedit check could not run ({type(exc).__name__}); showing the files' own diagnostics"
        else:
            absolute = [str(f) for f in files]

            def ours(f):
                if f["file"] is None:
                    return True
                where = f["file"] if os.path.isabs(f["file"]) else os.path.join(str(directory), f["file"])
                return any(_same_file(where, g) for g in absolute)

            return [f for f in found if ours(f)], None
    out = []
    for path, doc in sorted(documents.items()):
        if any(_same_file(path, str(f)) for f in files):
            out.extend(_finding(d) | {"file": path} for d in doc.diagnostics)
    return out, note


def finding_text(f):
    where = f["file"] or "<config>"
    if f["line"]:
        where += f", line {f['line']}"
    text = f"{where}: {f['severity']}: {f['message']}"
    if f["code"]:
        text += f" [{f['code']}]"
    if f["fix"]:
        text += f" -- fix: {f['fix']}"
    return text


# -- one task -------------------------------------------------------------------------------------
class Run:
    """One module run: one transaction over one config directory, and the result being built."""

    def __init__(self, module, *, backup=False, secrets=(), transaction=True):
        self.module = module
        self.secrets = [s for s in secrets if s]
        self.config_dir = config_dir(module.params.get("config_dir"))
        self.cdir = ConfigDir(self.config_dir)
        self.tx = self.cdir.transaction(backup=backup) if transaction else None
        self.result = {"changed": False, "config_dir": str(self.config_dir), "operations": [],
                       "reload_required": False, "reloaded": False, "written": [], "backups": {}}

    def mask(self, text):
        return mask(str(text), self.secrets)

    def fail(self, message, **extra):
        result = dict(self.result, **extra)
        if not result["written"]:
            result["operations"] = []  # edits that were never written did not happen
        if not self.module._diff:
            result.pop("diff", None)
        self.module.fail_json(msg=self.mask(message), **result)

    def record(self, op):
        self.result["operations"].append(operation(op))

    def diffs(self):
        return file_diffs(self.tx.documents, self.secrets)

    def save(self, *, validate=True):
        """Diff, then (unless checking) validate with postconf and commit every file together.

        Returns whether files were written. In check mode, or with nothing to change,
        the transaction is discarded; ``changed`` says whether anything would change.
        """
        documents = self.tx.documents
        pending = self.tx.pending()
        if self.module._diff:
            self.result["diff"] = self.diffs()
        if not pending or self.module.check_mode:
            self.tx.discard()
            self.result["changed"] = self.result["changed"] or bool(pending)
            return False
        if validate:
            self.validate(documents)
        try:
            committed = self.tx.commit()
        except PostfixConfError as exc:
            self.fail(str(exc))
        self.result["written"] = list(committed.written)
        self.result["backups"] = dict(committed.backups)
        self.result["changed"] = self.result["changed"] or bool(committed.written)
        return bool(committed.written)

    def validate(self, documents):
        """Refuse to write a main.cf/master.cf that postconf rejects (as the relay recipe does)."""
        here = Path(os.path.abspath(self.config_dir))
        contents = {Path(p).name: d.to_bytes() for p, d in documents.items()
                    if Path(p).name in ("main.cf", "master.cf") and Path(p).parent == here}
        if not contents:
            return
        try:
            with tempfile.TemporaryDirectory(prefix="pfedit-stage-") as scratch:
                problems = postfix_tools.stage_and_validate(here, contents, Path(scratch))
        except PostfixConfError as exc:
            self.tx.discard()
            self.fail(str(exc))
        if problems:
            self.tx.discard()
            self.fail("postconf rejects the new configuration; nothing was written:\n  " + "\n  ".join(problems))

    def reload(self, wanted):
        """``postfix check`` + ``postfix reload`` after a change if asked, else say one is required."""
        if not self.result["changed"]:
            return
        if not wanted or self.module.check_mode:
            self.result["reload_required"] = True
            return
        try:
            checked = postfix_tools.postfix_check(self.config_dir)
            if not checked.ok:
                self.fail("postfix check failed, not reloading: " + (checked.stderr.strip() or checked.stdout.strip()))
            done = postfix_tools.postfix_reload(self.config_dir)
        except PostfixConfError as exc:
            self.fail(str(exc))
        if not done.ok:
            self.fail("postfix reload failed: " + (done.stderr.strip() or done.stdout.strip()))
        self.result["reloaded"] = True

    def warn_findings(self, files):
        """Put the findings about ``files`` in the result; show warnings and errors as module warnings."""
        found, note = findings(self.config_dir, self.tx.documents, files)
        if note:
            self.module.warn(note)
        for f in found:
            f["message"] = self.mask(f["message"])
            if f["severity"] in ("warning", "error"):
                self.module.warn(finding_text(f))
        self.result["findings"] = found

    def warn(self, message):
        self.module.warn(self.mask(message))

    def exit(self, **extra):
        self.result.update(extra)
        self.module.exit_json(**self.result)


__all__ = ["LIBRARY_IMPORT_ERROR", "Operation", "PostfixConfError", "Run", "config_dir", "file_diffs", "findings",
           "operation", "postfix_tools", "redact_table_text", "relay_auth", "require_library", "scalar"]
