"""``pfedit apply relay-auth``: the OP25B relay in one reviewable transaction.

Argument parsing and output only: the recipe is :func:`postfix_conf.recipes.relay_auth`
and the run is :mod:`postfix_conf.pipeline`, the same code the Ansible module runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
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
    relayhost: Annotated[str | None, typer.Option(
        help="Provider's relay, e.g. '[msa.example.jp]:587' (required unless --remove).")] = None,
    username: Annotated[str | None, typer.Option(help="SMTP AUTH user name (required unless --remove).")] = None,
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
    sender: Annotated[str | None, typer.Option(
        help="An account for this sender only: 'alice@example.jp' or a whole domain '@example.org'.")] = None,
    rewrite_sender: Annotated[str | None, typer.Option(
        help="Send local mail (root@this host, cron...) as this address, which the provider accepts.")] = None,
    remove: Annotated[bool, typer.Option(
        "--remove", help="Take the account back (with --sender: that one); the last one takes every setting.")] = False,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Log in to the relay with the planned settings first (as pfedit verify relay); "
        "write nothing if that fails.")] = False,
) -> None:
    """Relay mail through the provider's submission port with SMTP AUTH (one account per run)."""
    from postfix_conf import PostfixConfError
    from postfix_conf.recipes import RelayAuth, remove_relay_auth
    from postfix_conf.recipes import relay_auth as recipe_of
    from postfix_conf.secrets import mask

    cdir = config_dir(config)
    if remove:
        given = [f"--{n.replace('_', '-')}" for n, v in (
            ("relayhost", relayhost), ("username", username), ("password_file", password_file),
            ("rewrite_sender", rewrite_sender), ("mechanisms", mechanisms), ("password_map", password_map),
            ("map_type", map_type)) if v] + (["--password-stdin"] if password_stdin else []) \
            + (["--submission"] if submission else []) + (["--verify"] if verify else [])
        if given:
            die(f"--remove takes back what was recorded; it does not take {', '.join(given)}", Exit.USAGE)
        try:
            recipe = remove_relay_auth(sender)
        except PostfixConfError as exc:
            die(str(exc), Exit.USAGE)
        run_plan(cdir, recipe, dry_run=dry_run, check=check, diff=diff, json=json, backup=backup,
                 postmap=not no_postmap, reload=reload, extra=password_map_json)
        return
    missing = [f"--{n}" for n, v in (("relayhost", relayhost), ("username", username)) if v is None]
    if missing:
        die(f"missing option {' and '.join(missing)} (required unless --remove)", Exit.USAGE)
    assert relayhost is not None and username is not None
    password = read_password(password_file, password_stdin)
    params = RelayAuth(relayhost, username, password, tls, mechanisms, password_map, map_type, submission,
                       submission_listen, sender, rewrite_sender)
    try:
        default_type = None
        if map_type is None and password_map is None:
            from postfix_conf.postfix_tools import default_database_type
            default_type = default_database_type(cdir)
        recipe = recipe_of(params, default_map_type=default_type)
    except PostfixConfError as exc:
        die(mask(str(exc), [password]))
    reports: list[dict[str, object]] = []
    hook = verify_hook(sender, json, reports) if verify else None

    def extra(plan: object) -> dict[str, object]:
        return password_map_json(plan) | ({"verify": reports[-1] if reports else None} if verify else {})

    run_plan(cdir, recipe, secrets=[password], dry_run=dry_run, check=check, diff=diff, json=json, backup=backup,
             postmap=not no_postmap, reload=reload, extra=extra, verify=hook)


def verify_hook(sender: str | None, json: bool, reports: list[dict[str, object]]) -> Callable[[object], None]:
    """The live check of the planned settings (the stages go to stderr, or into the JSON)."""

    def check(plan: object) -> None:
        from postfix_conf.pipeline import Plan
        from postfix_conf.verify.planned import verify_plan, veto

        from .verify import print_report, resolvers

        assert isinstance(plan, Plan)
        try:
            mx, hosts = resolvers(10.0)
        except ImportError:  # dnspython missing: bracketed relays are still checked
            report = verify_plan(plan, sender=sender)
        else:
            report = verify_plan(plan, sender=sender, resolve_mx=mx, resolve_host=hosts)
        reports.append(report.to_dict())
        if not json:
            print_report(report, err=True)
        veto(report)

    return check


def password_map_json(plan: object) -> dict[str, object]:
    """The recipe's own JSON key: the password map as main.cf names it."""
    from postfix_conf.pipeline import Plan
    from postfix_conf.recipes.relay_auth import password_map_of

    assert isinstance(plan, Plan)
    return {"password_map": password_map_of(plan.planned.tables)}


