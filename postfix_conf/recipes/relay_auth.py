"""relay-auth: send all mail through the provider's submission port with SMTP AUTH.

The recipe is a *plan* first: it loads main.cf, master.cf and the password map into
one :class:`~postfix_conf.files.Transaction`, makes only the edits whose result is
not already there, and records each one as an :class:`Operation`. The plan can be
shown (diff with the password masked, JSON) and then applied: staged files are read
by ``postconf`` before anything is written, all files are committed together, the
map is compiled with ``postmap`` when needed and made 0600, Postfix is reloaded on
request. Running it again finds nothing to do.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import InvalidValueError, PostfixConfError
from ..files import ConfigDir, Transaction, secure_compiled_map
from ..main_cf import MainCf
from ..relayhost import implicit_tls, parse_relayhost
from ..table import LookupTable
from .operation import Operation
from .secrets import redact_table_diff
from .submission import SUBMISSION_OPTIONS, ensure_submission

TlsMode = Literal["auto", "starttls", "wrapper"]
STRONG_TLS_LEVELS = frozenset({"encrypt", "dane-only", "fingerprint", "verify", "secure"})
COMPILED_SUFFIX = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb"}
FILE_MAP_TYPES = frozenset({*COMPILED_SUFFIX, "texthash"})


class RecipeError(PostfixConfError):
    """The recipe cannot be applied as asked; nothing was written."""


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
    submission_listen: Literal["any", "loopback"] = "any"


@dataclass
class RelayAuthPlan:
    config_dir: Path
    params: RelayAuth
    transaction: Transaction
    map_path: Path
    map_type: str
    operations: list[Operation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    compile_map: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.operations)

    def files(self) -> list[str]:
        return sorted({op.file for op in self.operations})

    def diff(self) -> str:
        """Unified diff of every file, the password map's credentials masked."""
        parts = []
        for path, doc in sorted(self.transaction.documents.items()):
            if not doc.changed:
                continue
            text = doc.diff(fromfile=f"a{path}", tofile=f"b{path}")
            parts.append(redact_table_diff(text) if isinstance(doc, LookupTable) else text)
        return "".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "config_dir": str(self.config_dir),
            "password_map": f"{self.map_type}:{self.map_path}",
            "operations": [{"file": o.file, "action": o.action, "target": o.target, "old": o.old,
                            "new": o.new, "note": o.note} for o in self.operations],
            "warnings": list(self.warnings),
        }


@dataclass
class ApplyResult:
    plan: RelayAuthPlan
    written: tuple[str, ...] = ()
    backups: dict[str, str] = field(default_factory=dict)
    postmap_ran: bool = False
    reloaded: bool = False
    messages: list[str] = field(default_factory=list)


def _check_credentials(params: RelayAuth) -> None:
    user, password = params.username, params.password
    if not user or any(c in user for c in " \t\r\n\0:"):
        raise InvalidValueError("username must be non-empty, without whitespace, ':' or NUL")
    if not password:
        raise InvalidValueError("the password is empty")
    if any(c in password for c in "\r\n\0"):
        raise InvalidValueError("the password contains a newline or NUL byte")
    if password != password.strip(" \t\v\f"):
        raise InvalidValueError("the password starts or ends with whitespace, which postmap would drop")


def _wants_wrapper(params: RelayAuth) -> bool:
    dests = parse_relayhost(params.relayhost)
    if params.tls != "auto":
        return params.tls == "wrapper"
    modes = {implicit_tls(d) for d in dests}
    if len(modes) > 1:
        raise RecipeError("the relayhost list mixes implicit-TLS (465) and STARTTLS ports; "
                          "pass --tls starttls or --tls wrapper")
    return modes == {True}


def _existing_file_map(main: MainCf) -> tuple[str, Path] | None:
    """The first ``type:/path`` of smtp_sasl_password_maps that is a file pfedit can edit."""
    value = main.get("smtp_sasl_password_maps") or ""
    for item in value.replace(",", " ").split():
        kind, sep, where = item.partition(":")
        if sep and kind in FILE_MAP_TYPES and where.startswith("/"):
            return kind, Path(where)
    if value.strip():
        raise RecipeError(f"smtp_sasl_password_maps = {value} names no table file pfedit can edit; "
                          "pass --password-map to replace it")
    return None


def _set(plan: RelayAuthPlan, main: MainCf, name: str, value: str, note: str = "") -> None:
    old = main.get(name)
    if main.set(name, value):
        plan.operations.append(Operation(str(main.path), "set", name, old, value, note))


def plan_relay_auth(config_dir: str | os.PathLike[str], params: RelayAuth, *,
                    default_map_type: str | None = None) -> RelayAuthPlan:
    """Load the files and compute every edit; nothing is written.

    ``default_map_type`` is what ``postconf -h default_database_type`` says (the CLI
    asks postconf); without it ``hash`` is used.
    """
    _check_credentials(params)
    destinations = parse_relayhost(params.relayhost)  # refuses malformed forms before any I/O
    if not destinations:
        raise InvalidValueError("relayhost is empty; give the provider's relay, e.g. [msa.example.jp]:587")
    wrapper = _wants_wrapper(params)
    config_dir = Path(os.path.abspath(config_dir))  # map paths in main.cf must be absolute
    cdir = ConfigDir(config_dir)
    tx = cdir.transaction()
    main = tx.main_cf()

    existing = None if params.password_map else _existing_file_map(main)
    if existing is not None:
        map_type, map_path = existing
    else:
        map_path = Path(os.path.abspath(params.password_map or cdir.path / "sasl_passwd"))
        map_type = params.map_type or default_map_type or "hash"
    if map_type not in FILE_MAP_TYPES:
        raise RecipeError(f"map type {map_type!r} is not a postmap file type ({', '.join(sorted(FILE_MAP_TYPES))})")

    plan = RelayAuthPlan(Path(config_dir), params, tx, map_path, map_type)
    _set(plan, main, "relayhost", params.relayhost)
    _set(plan, main, "smtp_sasl_auth_enable", "yes")
    if existing is None:
        _set(plan, main, "smtp_sasl_password_maps", f"{map_type}:{map_path}")
    _set(plan, main, "smtp_sasl_security_options", "noanonymous",
         "allow PLAIN/LOGIN; TLS is mandatory below")
    _set(plan, main, "smtp_sasl_tls_security_options", "noanonymous")
    level = (main.get("smtp_tls_security_level") or "").strip()
    if level not in STRONG_TLS_LEVELS:
        _set(plan, main, "smtp_tls_security_level", "encrypt", "credentials never cross the network in clear")
    if wrapper:
        _set(plan, main, "smtp_tls_wrappermode", "yes", "implicit TLS (port 465)")
    elif (main.get("smtp_tls_wrappermode") or "no").strip().lower() != "no":
        old = main.get("smtp_tls_wrappermode")
        main.delete("smtp_tls_wrappermode")
        plan.operations.append(Operation(str(main.path), "delete", "smtp_tls_wrappermode", old, None,
                                         "STARTTLS relay"))
    if params.mechanisms is not None:
        _set(plan, main, "smtp_sasl_mechanism_filter", params.mechanisms)

    table = tx.table(map_path, secret=True, create=True)
    credentials = f"{params.username}:{params.password}"
    for dest in destinations:
        if table.get(dest.text) != credentials:
            action = "update-entry" if dest.text in table else "add-entry"
            table.set(dest.text, credentials)
            plan.operations.append(Operation(str(map_path), action, dest.text, note="credentials"))
        if dest.host != dest.text and table.get(dest.host) not in (None, credentials):
            plan.warnings.append(
                f"{map_path}: the entry for the bare host name {dest.host!r} is looked up before "
                f"{dest.text!r} and has other credentials; it wins (Postfix tries the host name first)")

    if params.submission:
        master = tx.master_cf()
        plan.operations.extend(ensure_submission(master, params.submission_listen))

    plan.compile_map = map_type in COMPILED_SUFFIX and (table.changed or compiled_map_stale(map_path, map_type))
    if plan.compile_map and not table.changed:
        plan.operations.append(Operation(str(map_path), "postmap", f"{map_type}:{map_path}",
                                         note="compiled map missing or older than its source"))
    return plan


def compiled_map_stale(source: Path, map_type: str) -> bool:
    """True when ``postmap`` must run: the compiled map is missing or older than its source."""
    compiled = Path(str(source) + COMPILED_SUFFIX[map_type])
    try:
        return not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime
    except OSError:
        return True


def apply_relay_auth(plan: RelayAuthPlan, *, backup: bool = False, postmap: bool = True,
                     reload: bool = False, validate: bool = True) -> ApplyResult:
    """Validate the staged files with postconf, commit them all, compile, reload."""
    from .. import postfix_tools as tools  # subprocess code only when something runs

    result = ApplyResult(plan)
    plan.transaction.backup = backup
    if validate:
        contents = {Path(p).name: d.to_bytes() for p, d in plan.transaction.documents.items()
                    if Path(p).name in ("main.cf", "master.cf") and Path(p).parent == plan.config_dir}
        with tempfile.TemporaryDirectory(prefix="pfedit-stage-") as scratch:
            problems = tools.stage_and_validate(plan.config_dir, contents, Path(scratch))
        if problems:
            plan.transaction.discard()
            raise RecipeError("postconf rejects the new configuration; nothing was written:\n  "
                              + "\n  ".join(problems))
    committed = plan.transaction.commit()
    result.written = committed.written
    result.backups = dict(committed.backups)
    if plan.compile_map:
        if postmap:
            ran = tools.postmap(plan.config_dir, plan.map_type, plan.map_path)
            if not ran.ok:
                raise RecipeError(f"postmap failed for {plan.map_type}:{plan.map_path}: {ran.stderr.strip()}")
            result.postmap_ran = True
        else:
            result.messages.append(f"run: postmap -c {plan.config_dir} {plan.map_type}:{plan.map_path}")
    if plan.map_type in COMPILED_SUFFIX:
        compiled = Path(str(plan.map_path) + COMPILED_SUFFIX[plan.map_type])
        if compiled.exists():
            secure_compiled_map(compiled, uid=0 if os.geteuid() == 0 else None)
    if not (result.written or result.postmap_ran):
        return result
    if not reload:
        if result.written:
            result.messages.append(f"a running Postfix needs: postfix -c {plan.config_dir} reload (or use --reload)")
        return result
    if not tools.postfix_status(plan.config_dir).ok:
        result.messages.append("Postfix is not running; nothing to reload (the new settings apply when it starts)")
        return result
    check = tools.postfix_check(plan.config_dir)
    if not check.ok:
        raise RecipeError("the configuration was written, but postfix check failed, so Postfix was not "
                          f"reloaded: {_tool_output(check)}")
    done = tools.postfix_reload(plan.config_dir)
    if not done.ok:
        raise RecipeError(f"the configuration was written, but postfix reload failed: {_tool_output(done)}")
    result.reloaded = True
    return result


def _tool_output(result: Any) -> str:
    text = (result.stderr.strip() or result.stdout.strip())
    return text or f"exit status {result.returncode}; see Postfix's mail log"


__all__ = ["SUBMISSION_OPTIONS", "ApplyResult", "Operation", "RecipeError", "RelayAuth", "RelayAuthPlan",
           "apply_relay_auth", "compiled_map_stale", "plan_relay_auth"]
