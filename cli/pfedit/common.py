"""What every command shares: the config dir option, exit codes, printing, errors, and the
one way a write is run and shown (:func:`run_plan`, over :mod:`postfix_conf.pipeline`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from postfix_conf.pipeline import Plan, Recipe, Result


class Exit(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    CHANGES_NEEDED = 3


ConfigDirOption = Annotated[
    Path | None,
    typer.Option("--config-dir", "-c", show_default=False,
                 help="Postfix config dir, like postconf -c (default: $MAIL_CONFIG, else /etc/postfix)."),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")]
DiffOption = Annotated[bool, typer.Option("--diff", help="Print a unified diff of the changes.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")]
BackupOption = Annotated[bool, typer.Option("--backup", help="Keep the previous version of each changed file.")]


def config_dir(value: Path | None) -> Path:
    from postfix_conf.paths import config_dir as default

    return default(value)


def die(message: str, code: Exit = Exit.ERROR) -> NoReturn:
    typer.echo(f"pfedit: error: {message}", err=True)
    raise typer.Exit(int(code))


def warn(message: str) -> None:
    typer.echo(f"pfedit: warning: {message}", err=True)


def printable(value: Any) -> Any:
    """``value`` with every string valid Unicode: a file byte that is not UTF-8 (kept by the
    library as a lone surrogate) becomes the four characters ``\\xNN``."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable(v) for v in value]
    return value


def print_json(data: dict[str, Any] | list[Any]) -> None:
    """One JSON document on stdout, valid UTF-8 (see :func:`printable`)."""
    import json  # only --json needs it

    typer.echo(json.dumps(printable(data), indent=2, sort_keys=True, ensure_ascii=False))


# -- running a write ----------------------------------------------------------------------------
Extra = Callable[["Plan"], dict[str, Any]]
Text = Callable[["Plan", "Result | None", bool], None]


def result_json(plan: Plan, result: Result | None, *, diff: str, dry_run: bool,
                error: dict[str, Any] | None = None, extra: Extra | None = None) -> dict[str, Any]:
    """The fixed keys every writing command prints with ``--json`` (documented in docs/cli.md)."""
    data = plan.to_dict() | {
        "config_dir": str(plan.config_dir),
        "dry_run": dry_run,
        "diff": diff,
        "written": list(result.written) if result else [],
        "created": list(result.created) if result else [],
        "backups": dict(result.backups) if result else {},
        "compiled": list(result.compiled) if result else [],
        "postmap": bool(result and result.compiled),
        "reloaded": bool(result and result.reloaded),
        "messages": [plan.mask(m) for m in result.messages] if result else [],
        "error": error,
    }
    if result is not None:
        data["changed"] = result.changed
    return data | (extra(plan) if extra else {})


def operations_text(plan: Plan, result: Result | None, dry_run: bool) -> None:
    """``pfedit apply``'s report: each file's operations, compiled maps, messages."""
    if dry_run:
        if not plan.changed:
            typer.echo("already up to date", err=True)
        for op in plan.operations:
            typer.echo(f"would {plan.mask(str(op))}  [{op.file}]", err=True)
        return
    if result is None:
        typer.echo("already up to date")
        return
    for file in plan.files():
        typer.echo(f"{file}:")
        for op in plan.operations:
            if op.file == file:
                typer.echo(f"  {plan.mask(str(op))}")
    for spec in result.compiled:
        typer.echo(f"compiled {spec}" + (" (mode 0600)" if _secret(plan, spec) else ""))
    for message in result.messages:
        typer.echo(plan.mask(message))
    for original, saved in result.backups.items():
        typer.echo(f"backup of {original}: {saved}")
    if result.reloaded:
        typer.echo("postfix reloaded")


def _secret(plan: Plan, spec: str) -> bool:
    table = plan.planned.tables.get(spec.partition(":")[2])
    return table is not None and table.secret


def run_plan(cdir: Path, recipe: Recipe, *, secrets: Sequence[str] = (), dry_run: bool = False, check: bool = False,
             diff: bool = False, json: bool = False, backup: bool = False, postmap: bool = True,
             reload: bool = False, validate: bool = True, extra: Extra | None = None,
             text: Text = operations_text, verify: Callable[[Plan], None] | None = None) -> None:
    """Plan, show, and (unless ``dry_run``/``check``) apply; exit codes 0/1/3 as documented.

    ``verify`` is the pipeline's live check: it runs on the planned files before anything
    is written (also when nothing is to change), and may refuse the run."""
    from postfix_conf import pipeline
    from postfix_conf.errors import PostfixConfError
    from postfix_conf.secrets import mask

    look = dry_run or check
    try:
        plan = pipeline.plan(cdir, recipe, lock=not look, backup=backup)
    except PostfixConfError as exc:
        die(mask(str(exc), list(secrets)))
    result: Result | None = None
    try:
        for w in plan.warnings:
            warn(w)
        shown = plan.diff()
        if (diff or look) and not json:
            typer.echo(shown, nl=False)
        if look or not plan.changed:
            try:
                if verify is not None:
                    verify(plan)
            finally:
                plan.discard()
        else:
            result = pipeline.apply(plan, postmap=postmap, reload=reload, validate=validate, verify=verify)
    except pipeline.PipelineError as exc:
        message = plan.mask(str(exc))
        if json:
            print_json(result_json(plan, None, diff=shown, dry_run=look, extra=extra, error={
                "phase": exc.phase, "message": message, "written": list(exc.written),
                "nothing_written": isinstance(exc, pipeline.BeforeCommitError)}))
        die(message)
    if json:
        print_json(result_json(plan, result, diff=shown, dry_run=look, extra=extra))
    else:
        text(plan, result, look)
    if check and plan.changed:
        raise typer.Exit(int(Exit.CHANGES_NEEDED))
