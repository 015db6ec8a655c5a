"""The ``pfedit`` command: argument parsing, output and exit codes only.

All meaning lives in :mod:`postfix_conf`; this module maps its answers and its
exceptions to text and exit codes in one place, so no user error shows a traceback
(and Typer is told never to print local variables, which could hold secrets).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from postfix_conf import MainCf, PostfixConfError

from . import __version__

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Lossless, idempotent, safe editing of Postfix configuration.",
)

ConfigDir = Annotated[
    Path | None,
    typer.Option("--config-dir", "-c", help="Postfix config dir (default: $MAIL_CONFIG, else /etc/postfix)."),
]


def config_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    return Path(os.environ.get("MAIL_CONFIG") or "/etc/postfix")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"pfedit: error: {message}", err=True)
    return typer.Exit(code)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pfedit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Edit main.cf, master.cf and lookup tables without losing a byte."""


@app.command()
def show(names: Annotated[list[str] | None, typer.Argument(help="Parameter names (default: all).")] = None,
         config: ConfigDir = None) -> None:
    """Print parameters set in main.cf as Postfix reads them, then its diagnostics."""
    path = config_dir(config) / "main.cf"
    try:
        doc = MainCf.read(path)
    except OSError as exc:
        raise fail(f"{path}: {exc.strerror or exc}") from None
    params = doc.parameters()
    wanted = names or sorted(params)
    missing = False
    for name in wanted:
        if name in params:
            typer.echo(f"{name} = {params[name]}" if params[name] else f"{name} =")
        else:
            typer.echo(f"pfedit: {name}: not set in {path}", err=True)
            missing = True
    for diag in doc.diagnostics:
        typer.echo(f"{path}, line {diag.line}: {diag.severity}: {diag.message}", err=True)
    if missing:
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except PostfixConfError as exc:  # pragma: no cover - commands map their own errors
        typer.echo(f"pfedit: error: {exc}", err=True)
        sys.exit(1)
