"""``pfedit apply relay-auth``: the OP25B relay in one reviewable transaction.

Argument parsing and output only: the recipe is :func:`postfix_conf.recipes.relay_auth`
and the run is :mod:`postfix_conf.pipeline`, the same code the Ansible module runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from .common import (
    BackupOption,
    ConfigDirOption,
    DiffOption,
    Exit,
    JsonOption,
    config_dir,
    die,
    run_plan,
    warn,
)

app = typer.Typer(no_args_is_help=True, help="Apply a whole configuration recipe.")

PASSWORD_ENV = "PFEDIT_RELAY_PASSWORD"


def read_password(password_file: Path | None, password_stdin: bool) -> str:
    """From a file, stdin, the environment or a hidden prompt; never from argv.

    Exactly one source: two of them (a file and stdin, or either with a non-empty
    ``$PFEDIT_RELAY_PASSWORD``) are a usage error, so that one never silently wins.
    """
    given = [what for what, on in (("--password-file", password_file is not None),
                                   ("--password-stdin", password_stdin),
                                   (f"${PASSWORD_ENV}", bool(os.environ.get(PASSWORD_ENV)))) if on]
    if len(given) > 1:
        die(f"{' and '.join(given)} both give the password: use one"
            + (f" (unset {PASSWORD_ENV})" if given[-1] == f"${PASSWORD_ENV}" else ""), Exit.USAGE)
    if password_file is not None:
        try:
            text = password_file.read_text("utf-8", "surrogateescape")
        except OSError as exc:
            die(f"{password_file}: {exc.strerror or exc}", Exit.USAGE)
        return text.split("\n", 1)[0].removesuffix("\r")  # the first line, as documented
    if password_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        return str(typer.prompt("Relay password", hide_input=True))
    die(f"no password: use --password-file FILE, --password-stdin, ${PASSWORD_ENV} or run on a terminal",
        Exit.USAGE)


@app.command("relay-auth")
def relay_auth(
    relayhost: Annotated[str, typer.Option(help="Provider's relay, e.g. '[msa.example.jp]:587'.")],
    username: Annotated[str, typer.Option(help="SMTP AUTH user name.")],
    password_file: Annotated[Path | None, typer.Option(help="File whose first line is the password.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    config: ConfigDirOption = None,
    tls: Annotated[Literal["auto", "starttls", "wrapper"],
                   typer.Option(help="auto: port 465/smtps/submissions -> wrapper, else starttls.")] = "auto",
    mechanisms: Annotated[str | None, typer.Option(help="smtp_sasl_mechanism_filter, e.g. 'PLAIN, LOGIN'.")] = None,
    password_map: Annotated[str | None, typer.Option(help="Password map path (default: DIR/sasl_passwd).")] = None,
    map_type: Annotated[str | None, typer.Option(help="Map type (default: postconf default_database_type).")] = None,
    submission: Annotated[bool, typer.Option(help="Also enable the submission service (587).")] = False,
    submission_listen: Annotated[Literal["any", "loopback"],
                                 typer.Option(help="Submission for any client or loopback only.")] = "any",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; write nothing.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 3 if changes are needed.")] = False,
    diff: DiffOption = False,
    json: JsonOption = False,
    backup: BackupOption = False,
    no_postmap: Annotated[bool, typer.Option("--no-postmap", help="Do not run postmap; say what to run.")] = False,
    reload: Annotated[bool, typer.Option("--reload", help="postfix reload when something changed.")] = False,
) -> None:
    """Relay all mail through the provider's submission port with SMTP AUTH."""
    from postfix_conf import PostfixConfError
    from postfix_conf.recipes import RelayAuth
    from postfix_conf.recipes import relay_auth as recipe_of
    from postfix_conf.secrets import mask

    password = read_password(password_file, password_stdin)
    cdir = config_dir(config)
    params = RelayAuth(relayhost, username, password, tls, mechanisms, password_map, map_type, submission,
                       submission_listen)
    try:
        default_type = None
        if map_type is None and password_map is None:
            from postfix_conf.postfix_tools import default_database_type
            default_type = default_database_type(cdir)
        recipe = recipe_of(params, default_map_type=default_type)
    except PostfixConfError as exc:
        die(mask(str(exc), [password]))
    for w in relayhost_warnings(relayhost):
        warn(w)
    run_plan(cdir, recipe, secrets=[password], dry_run=dry_run, check=check, diff=diff, json=json, backup=backup,
             postmap=not no_postmap, reload=reload, extra=password_map_json)


def password_map_json(plan: object) -> dict[str, object]:
    """The recipe's own JSON key: the password map as main.cf names it."""
    from postfix_conf.pipeline import Plan

    assert isinstance(plan, Plan)
    tables = plan.planned.tables
    spec = next(iter(tables.values()), None)
    return {"password_map": None if spec is None else f"{spec.map_type}:{spec.path}"}


def relayhost_warnings(relayhost: str) -> list[str]:
    """What Postfix accepts but rarely means (``host:587`` still looks up MX records...), with the
    form to write instead: :func:`postfix_conf.relayhost.relayhost_warnings`, the text Ansible's
    postfix_relay can show too. The port-465 notice is left out: this recipe sets wrapper mode."""
    from postfix_conf.relayhost import SMTPS_HINT, RelayhostError
    from postfix_conf.relayhost import relayhost_warnings as library_warnings

    try:
        return [w for w in library_warnings(relayhost) if not w.endswith(SMTPS_HINT)]
    except RelayhostError:  # refused with its error before this is asked
        return []
