"""``pfedit check``: find the open relay, the leaked password and the silent misconfiguration."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import ConfigDirOption, Exit, JsonOption, config_dir, die, print_json

DEFAULT_VERSION = "3.7"


def check(
    config: ConfigDirOption = None,
    json: JsonOption = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too, not only on errors.")] = False,
    postfix_version: Annotated[str | None, typer.Option(
        "--postfix-version", show_default=False,
        help="Postfix version the files are for (default: the installed one, else 3.7).")] = None,
) -> None:
    """Find open relays, leaked passwords and silent misconfigurations (writes nothing)."""
    from postfix_conf.check import check as run_check  # the check package only when checking
    from postfix_conf.check import parse_version
    from postfix_conf.postfix_tools import installed_version

    cdir = config_dir(config)
    version = postfix_version or installed_version() or DEFAULT_VERSION
    try:
        parse_version(version)
    except ValueError as exc:
        die(str(exc), Exit.USAGE)
    findings = run_check(cdir, postfix_version=version)
    if json:
        print_json([f.to_dict() for f in findings])
    else:
        for f in findings:
            typer.echo(str(f))
            typer.echo(f"    fix: {f.fix}")
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    if not json:
        summary = ", ".join(f"{n} {s}{'' if n == 1 else 's'}" for s, n in counts.items() if n)
        typer.echo(f"pfedit check: {summary or 'no problems found'} in {cdir} (Postfix {version})", err=True)
    failed = counts["error"] > 0 or (strict and counts["warning"] > 0)
    if failed:
        raise typer.Exit(int(Exit.ERROR))
