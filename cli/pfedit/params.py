"""``pfedit show|get|set|unset``: everyday main.cf parameter commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from postfix_conf import MainCf
    from postfix_conf.items import Item

from .common import (
    BackupOption,
    ConfigDirOption,
    DiffOption,
    DryRunOption,
    Exit,
    JsonOption,
    config_dir,
    die,
    print_json,
    run_plan,
)


def _read(config: ConfigDirOption) -> MainCf:
    from postfix_conf import MainCf  # each command imports what it needs, when it runs

    path = config_dir(config) / "main.cf"
    try:
        return MainCf.read(path)
    except OSError as exc:
        die(f"{path}: {exc.strerror or exc}")


def _print_diagnostics(doc: MainCf) -> None:
    for d in doc.diagnostics:
        if d.severity != "info":
            typer.echo(f"{doc.path}, line {d.line}: {d.severity}: {d.message}", err=True)


def show(names: Annotated[list[str] | None, typer.Argument(help="Parameter names (default: all set).")] = None,
         config: ConfigDirOption = None, json: JsonOption = False) -> None:
    """Print the parameters set in main.cf, as Postfix reads them."""
    doc = _read(config)
    params = doc.parameters()
    wanted = names or sorted(params)
    missing = [n for n in wanted if n not in params]
    if json:
        print_json({"parameters": {n: params[n] for n in wanted if n in params}, "missing": missing,
                    "diagnostics": [vars_of(d) for d in doc.diagnostics]})
    else:
        for name in wanted:
            if name in params:
                typer.echo(f"{name} = {params[name]}" if params[name] else f"{name} =")
        for name in missing:
            typer.echo(f"pfedit: {name}: not set in {doc.path}", err=True)
        _print_diagnostics(doc)
    if missing:
        raise typer.Exit(int(Exit.ERROR))


def vars_of(d: object) -> dict[str, object]:
    return {k: getattr(d, k) for k in ("line", "severity", "code", "message")}


def get(name: Annotated[str, typer.Argument(help="Parameter name.")], config: ConfigDirOption = None) -> None:
    """Print one parameter's value (exit 1 when it is not set)."""
    value = _read(config).get(name)
    if value is None:
        raise typer.Exit(int(Exit.ERROR))
    typer.echo(value)


def _edit(config: ConfigDirOption, dry_run: bool, diff: bool, backup: bool, verb: str,
          items: list[Item]) -> None:
    """Run main.cf edits through the pipeline (read under the edit lock, like postconf -e)."""
    from postfix_conf.pipeline import Desired, Plan, Reader, Result

    def recipe(reader: Reader) -> Desired:
        return Desired(list(items))

    def summary(plan: Plan, result: Result | None, look: bool) -> None:
        names = [op.target for op in plan.operations]
        shown = ("would " + verb if look else verb) + ": " + ", ".join(names)
        typer.echo(shown if names else "already up to date", err=True)

    run_plan(config_dir(config), recipe, dry_run=dry_run, diff=diff, backup=backup, validate=False, text=summary)


def set_(assignments: Annotated[list[str], typer.Argument(
            help="NAME=VALUE pairs, e.g. 'relayhost=[msa.example.jp]:587'.", metavar="NAME=VALUE...")],
         config: ConfigDirOption = None, dry_run: DryRunOption = False, diff: DiffOption = False,
         backup: BackupOption = False,
         strict: Annotated[bool, typer.Option(
             "--strict", help="Write nothing (exit 1) when a name or value is wrong, instead of warning.")] = False,
         ) -> None:
    """Set parameters in main.cf (each only if different; nothing else changes).

    Warns, as pfedit check would, about a value Postfix cannot use or a name it does not know.
    """
    pairs: dict[str, str] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep:
            die(f"expected NAME=VALUE, got {item!r}", Exit.USAGE)
        pairs[name.strip()] = value
    problems = vet(config_dir(config), pairs)
    if strict and problems:
        die(f"nothing written: {len(problems)} problem{'' if len(problems) == 1 else 's'} in the settings "
            "given (--strict)")
    from postfix_conf.items import Param

    _edit(config, dry_run, diff, backup, "set", [Param(n, v) for n, v in pairs.items()])


def vet(cdir: Path, pairs: dict[str, str]) -> list[str]:
    """Print what ``pfedit check`` would say about these settings once written (each finding and
    its fix, on stderr); return the errors and warnings among them.

    A name or value main.cf cannot hold at all is left to the write, which refuses it.
    """
    from postfix_conf import MainCf
    from postfix_conf.check import check_settings
    from postfix_conf.errors import PostfixConfError
    from postfix_conf.postfix_tools import installed_version

    from .check import DEFAULT_VERSION

    path = cdir / "main.cf"
    try:
        doc = MainCf.read(path)
        for name, value in pairs.items():
            doc.set(name, value)
    except (OSError, PostfixConfError):
        return []
    findings = check_settings(cdir, doc, pairs, postfix_version=installed_version() or DEFAULT_VERSION)
    for f in findings:
        typer.echo(str(f), err=True)
        typer.echo(f"    fix: {f.fix}", err=True)
    return [str(f) for f in findings if f.severity != "info"]


def unset(names: Annotated[list[str], typer.Argument(help="Parameter names.")],
          config: ConfigDirOption = None, dry_run: DryRunOption = False, diff: DiffOption = False,
          backup: BackupOption = False) -> None:
    """Remove parameters from main.cf (comment lines inside them stay)."""
    from postfix_conf.items import Param

    _edit(config, dry_run, diff, backup, "removed", [Param(n, None) for n in dict.fromkeys(names)])
