"""The ``pfedit`` command: argument parsing, output and exit codes only.

All meaning lives in :mod:`postfix_conf`. Typer's pretty tracebacks are off: an
unexpected error prints one line (with ``PFEDIT_DEBUG=1`` the traceback), so no
local variable that could hold a password is ever shown.

Help and usage errors are plain text (``rich_markup_mode=None``): the help texts are full
of Postfix syntax -- ``[msa.example.jp]:587``, ``$mua_client_restrictions`` -- that Rich
markup would eat (``[...]`` is a style tag to it), and Click's plain layout stays readable
at 80 columns, where Rich's option table truncates names (``--password-std…``). An
unknown option is answered with every option the command has, not difflib's guess.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from postfix_conf import PostfixConfError

from . import __version__

try:  # Typer >= 0.22 vendors Click
    from typer._click.exceptions import NoSuchOption
except ImportError:  # pragma: no cover - older Typer uses the click package
    from click.exceptions import NoSuchOption  # type: ignore[no-redef,import-not-found,unused-ignore]


def real_options(exc: NoSuchOption) -> None:
    """Rewrite Click's "No such option: --check (Possible options: --help)" -- difflib's closest
    names, which can be only --help -- into the command's own options, and a near miss if any."""
    if exc.ctx is None:
        return
    options = sorted({o for p in exc.ctx.command.params if not getattr(p, "hidden", False)
                      for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]
                      if o.startswith("--") and o != "--help"})
    import difflib  # only a mistyped option needs it

    close = difflib.get_close_matches(exc.option_name, options, n=2, cutoff=0.7)
    exc.message = (f"No such option: {exc.option_name}" + (f"; did you mean {' or '.join(close)}?" if close else "")
                   + f" (options of '{exc.ctx.command_path}': {', '.join(options) or 'none'}, and --help)")
    exc.possibilities = None


class Group(TyperGroup):
    """Typer's group; an unknown option of any command below it gets :func:`real_options`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as exc:
            real_options(exc)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except NoSuchOption as exc:
            real_options(exc)
            raise


def make_app() -> typer.Typer:
    return typer.Typer(
        cls=Group,
        rich_markup_mode=None,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        help="Lossless, idempotent, safe editing of Postfix configuration.",
    )


# name -> (module, function) and name -> module with an ``app``: a run imports only its own.
COMMANDS: dict[str, tuple[str, str]] = {"show": ("params", "show"), "get": ("params", "get"),
                                        "set": ("params", "set_"), "unset": ("params", "unset"),
                                        "check": ("check", "check")}
GROUPS: dict[str, str] = {"apply": "apply", "service": "services", "verify": "verify"}


def register(target: typer.Typer, names: Iterable[str]) -> typer.Typer:
    for name in names:
        if name in COMMANDS:
            module, function = COMMANDS[name]
            target.command(name)(getattr(importlib.import_module(f".{module}", __package__), function))
        else:
            target.add_typer(importlib.import_module(f".{GROUPS[name]}", __package__).app, name=name)
    target.callback()(root)
    return target


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pfedit {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Edit main.cf, master.cf and lookup tables without losing a byte."""


def full_app() -> typer.Typer:
    """Every command: what ``--help``, ``--version`` and an unknown command are answered with."""
    return register(make_app(), [*COMMANDS, *GROUPS])


def __getattr__(name: str) -> Any:  # ``from pfedit.main import app`` (tests, completion scripts)
    if name == "app":
        return full_app()
    raise AttributeError(name)


def invoked(argv: list[str]) -> str | None:
    """The command the arguments name, if they name one before anything else."""
    for arg in argv:
        if arg in COMMANDS or arg in GROUPS:
            return arg
        if not arg.startswith("-") or arg in ("--version", "-h", "--help"):
            return None
    return None


def main() -> None:
    # Typer turns every registered command into a Click command on each run; a run needs
    # only its own (the full app answers --help, --version and anything unknown).
    name = invoked(sys.argv[1:])
    cli = full_app() if name is None else register(make_app(), [name])
    try:
        cli()
    except PostfixConfError as exc:
        typer.echo(f"pfedit: error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # never a traceback (it could show secrets) unless asked for
        if os.environ.get("PFEDIT_DEBUG") == "1":
            raise
        typer.echo(f"pfedit: internal error: {type(exc).__name__} (set PFEDIT_DEBUG=1 for details)", err=True)
        sys.exit(1)
