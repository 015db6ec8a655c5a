"""``pfedit apply relay-auth``: the OP25B relay in one reviewable transaction."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from postfix_conf import PostfixConfError
from postfix_conf.recipes import RelayAuth, apply_relay_auth, plan_relay_auth
from postfix_conf.recipes.secrets import mask

from .common import BackupOption, ConfigDirOption, DiffOption, Exit, JsonOption, config_dir, die, print_json, warn

app = typer.Typer(no_args_is_help=True, help="Apply a whole configuration recipe.")

PASSWORD_ENV = "PFEDIT_RELAY_PASSWORD"


def read_password(password_file: Path | None, password_stdin: bool) -> str:
    """From a file, stdin, the environment or a hidden prompt; never from argv."""
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
    password = read_password(password_file, password_stdin)
    cdir = config_dir(config)
    params = RelayAuth(relayhost, username, password, tls, mechanisms, password_map, map_type, submission,
                       submission_listen)
    try:
        default_type = None
        if map_type is None and password_map is None:
            from postfix_conf.postfix_tools import default_database_type
            default_type = default_database_type(cdir)
        plan = plan_relay_auth(cdir, params, default_map_type=default_type)
        for w in plan.warnings:
            warn(mask(w, [password]))
        shown_diff = mask(plan.diff(), [password]) if diff or dry_run or check else None
        if shown_diff is not None and not json:
            typer.echo(shown_diff, nl=False)
        if dry_run or check:
            if json:
                print_json(plan.to_json() | {"diff": shown_diff})
            elif not plan.changed:
                typer.echo("already up to date", err=True)
            else:
                for op in plan.operations:
                    typer.echo(f"would {mask(str(op), [password])}  [{op.file}]", err=True)
            plan.transaction.discard()
            raise typer.Exit(int(Exit.CHANGES_NEEDED) if check and plan.changed else int(Exit.OK))
        if not plan.changed:
            plan.transaction.discard()
            if json:
                print_json(plan.to_json() | {"written": []})
            else:
                typer.echo("already up to date")
            return
        result = apply_relay_auth(plan, backup=backup, postmap=not no_postmap, reload=reload)
    except PostfixConfError as exc:
        die(mask(str(exc), [password]))
    if json:
        print_json(plan.to_json() | {"diff": shown_diff, "written": list(result.written), "backups": result.backups,
                                     "postmap": result.postmap_ran, "reloaded": result.reloaded,
                                     "messages": result.messages})
        return
    for file in plan.files():
        typer.echo(f"{file}:")
        for op in plan.operations:
            if op.file == file:
                typer.echo(f"  {mask(str(op), [password])}")
    if result.postmap_ran:
        typer.echo(f"compiled {plan.map_type}:{plan.map_path} (mode 0600)")
    for message in result.messages:
        typer.echo(message)
    for original, saved in result.backups.items():
        typer.echo(f"backup of {original}: {saved}")
    if result.reloaded:
        typer.echo("postfix reloaded")
