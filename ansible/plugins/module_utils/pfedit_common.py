# Copyright: pfedit contributors
# MIT License (see the pfedit project)
"""What the pfedit.postfix modules share: a thin adapter from Ansible to ``postfix_conf``.

Every decision about Postfix files is made by the bundled ``postfix_conf`` library, and
every module writes through the same :mod:`postfix_conf.pipeline` as the ``pfedit``
command (plan under the edit lock -> postconf validation -> compiled maps staged ->
one commit -> reload that puts everything back if it fails). This file only turns
module parameters into desired items and the pipeline's result into Ansible's:

* ``changed`` is true only when bytes change (in check mode: would change);
* ``--diff`` gets before/after text per file, lookup-table values masked;
* a failure says what was written (``written``), which is nothing unless the
  pipeline says otherwise;
* warnings come from ``postfix_conf.check`` when the bundle has it, else from the
  edited documents' own diagnostics.
"""

from __future__ import annotations

import os
import sys
import traceback

MIN_PYTHON = (3, 11)
LIBRARY_IMPORT_ERROR = None

try:
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf import (
        PostfixConfError,
        items,
        paths,
        pipeline,
        postfix_tools,
    )
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf import table as _table
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.maps import (
        COMPILED_SUFFIXES,
        compiled_files,
    )
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.recipes import (
        RelayAuth,
        relay_auth,
        remove_relay_auth,
    )
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.recipes.relay_auth import password_map_of
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.secrets import (
        mask,
        redact_table_diff,
    )
    from ansible_collections.pfedit.postfix.plugins.module_utils.postfix_conf.verify.planned import verify_plan, veto
except Exception:  # not bundled (built without ansible/build.py), or too old a Python on the managed host
    LIBRARY_IMPORT_ERROR = traceback.format_exc()


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
    return paths.config_dir(value)


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


# -- diffs ----------------------------------------------------------------------------------------
def _text(data):
    return data.decode("utf-8", "replace")


def redact_table_text(text):
    """A whole lookup table with every value masked (the library's diff masking, line by line)."""
    masked = redact_table_diff("\n".join(" " + line for line in text.split("\n")))
    return "\n".join(line[1:] for line in masked.split("\n"))


def file_diffs(plan, secrets=()):
    """Ansible's before/after diff for every file the plan changes (pfedit's state file is not
    shown); lookup tables masked, a removed file shown as emptied, compiled maps left out."""
    diffs = []
    changes = [(path, doc.source, doc.to_bytes(), isinstance(doc, _table.LookupTable))
               for path, doc in plan.shown().items()]
    changes += [(path, old, b"", True) for path, old in plan.transaction.removals().items()
                if os.path.basename(path) != "pfedit.state.json" and not path.endswith(COMPILED_SUFFIXES)]
    for path, old, new, table in changes:
        before, after = _text(old), _text(new)
        if table:
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


def postfix_version():
    """The installed Postfix's ``mail_version`` (the library asks it without reading any config)."""
    return postfix_tools.installed_version()


def findings(directory, documents, files, version):
    """Findings about ``files``: from ``postfix_conf.check`` if bundled, else the documents' diagnostics.

    ``version`` is the installed Postfix's (None when unknown: the findings then assume 3.7,
    and ``note`` says so). Returns ``(findings, note)``; ``note`` also says why check was not
    used, if it failed.
    """
    note = None
    check = _check_function()
    if check is not None:
        if version is None:
            note = "the Postfix version is unknown (postconf did not answer); the findings assume 3.7"
        try:
            found = [_finding(f) for f in check(directory, postfix_version=version or "3.7")]
        except Exception as exc:  # the check package is young: never fail a task because of it
            note = f"pfedit check could not run ({type(exc).__name__}); showing the files' own diagnostics"
        else:
            absolute = [str(f) for f in files]

            def ours(f):
                if f["file"] is None:
                    return True
                where = f["file"] if os.path.isabs(f["file"]) else os.path.join(str(directory), f["file"])
                return any(_same_file(where, g) for g in absolute)

            return [f for f in found if ours(f)], note
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
    """One module run: one pipeline run over one config directory, and the result being built."""

    def __init__(self, module, *, secrets=()):
        self.module = module
        self.secrets = [s for s in secrets if s]
        self.config_dir = config_dir(module.params.get("config_dir"))
        self.plan = None
        self.result = {"changed": False, "config_dir": str(self.config_dir), "operations": [],
                       "reload_required": False, "reloaded": False, "written": [], "backups": {}}

    def mask(self, text):
        return mask(str(text), self.secrets)

    def fail(self, message, **extra):
        result = dict(self.result, **extra)
        if not result["written"]:
            result["operations"] = []  # edits that were never written did not happen
            result["changed"] = False
        if not self.module._diff:
            result.pop("diff", None)
        self.module.fail_json(msg=self.mask(message), **result)

    def file(self, name):
        """A path as the module sees it: relative names are inside the config directory."""
        return os.path.abspath(os.path.join(str(self.config_dir), str(name)))

    def execute(self, recipe, *, backup=False, validate=True, postmap=True, reload=False, verify=None):
        """Plan (in check mode: only plan), diff, apply; fill the result. Returns the pipeline result or None."""
        try:
            plan = pipeline.plan(self.config_dir, recipe, lock=not self.module.check_mode, backup=backup)
        except PostfixConfError as exc:
            self.fail(str(exc))
        self.plan = plan
        self.secrets += [s for s in plan.desired.secrets if s]
        self.result["operations"] = [{k: self.mask(v) if isinstance(v, str) else v for k, v in op.to_dict().items()}
                                     for op in plan.operations]
        for warning in plan.warnings:
            self.warn(warning)
        if self.module._diff:
            self.result["diff"] = file_diffs(plan, self.secrets)
        changed = plan.changed
        if self.module.check_mode or not changed:
            try:
                if verify is not None:
                    verify(plan)
            except pipeline.PipelineError as exc:
                self.fail(str(exc))
            finally:
                plan.discard()
            self.result["changed"] = changed
            self.result["reload_required"] = changed
            return None
        try:
            done = pipeline.apply(plan, postmap=postmap, reload=reload, validate=validate, verify=verify)
        except pipeline.PipelineError as exc:
            self.fail(str(exc), written=list(exc.written), changed=bool(exc.written))
        self.result.update(changed=done.changed, written=list(done.written), backups=dict(done.backups),
                           reloaded=done.reloaded, reload_required=done.changed and not done.reloaded)
        return done

    def warn_findings(self, files):
        """Put the findings about ``files`` in the result; show warnings and errors as module warnings."""
        documents = self.plan.transaction.documents if self.plan is not None else {}
        version = postfix_version()
        found, note = findings(self.config_dir, documents, files, version)
        self.result["postfix_version"] = version
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


def desired(items, warnings=(), secrets=()):
    """A recipe that wants exactly ``items`` (what the generic modules ask for)."""
    def recipe(reader):
        return pipeline.Desired(list(items), list(warnings), list(secrets))
    return recipe


__all__ = [
    "LIBRARY_IMPORT_ERROR",
    "PostfixConfError",
    "RelayAuth",
    "Run",
    "compiled_files",
    "config_dir",
    "desired",
    "file_diffs",
    "findings",
    "items",
    "password_map_of",
    "postfix_tools",
    "redact_table_text",
    "relay_auth",
    "remove_relay_auth",
    "require_library",
    "scalar",
    "verify_plan",
    "veto",
]
