"""The ``pfedit`` command: argument parsing, output and exit codes only.

All meaning lives in :mod:`postfix_conf`. Typer's pretty tracebacks are off: an
unexpected error prints one line (with ``PFEDIT_DEBUG=1`` the traceback), so no
local variable that could hold a password is ever shown.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from postfix_conf import PostfixConfError

from . import __version__, apply, check, params, services, verify

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Lossless, idempotent, safe editing of Postfix configuration.",
)
app.command()(params.show)
app.command()(params.get)
app.command("set")(params.set_)
app.command()(params.unset)
app.command()(check.check)
app.add_typer(apply.app, name="apply")
app.add_typer(services.app, name="service")
app.add_typer(verify.app, name="verify")


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


def main() -> None:
    try:
        app()
    except PostfixConfError as exc:
        typer.echo(f"pfedit: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # never a traceback (it could show secrets) unless asked for
        if os.environ.get("PFEDIT_DEBUG") == "1":
            raise
        typer.echo(f"pfedit: internal error: {type(exc).__name__} (set PFEDIT_DEBUG=1 for details)", err=True)
        sys.exit(1)
