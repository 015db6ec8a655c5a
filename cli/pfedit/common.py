"""What every command shares: the config dir option, exit codes, printing, errors."""

from __future__ import annotations

import json
import os
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer


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
    if value is not None:
        return value
    return Path(os.environ.get("MAIL_CONFIG") or "/etc/postfix")


def die(message: str, code: Exit = Exit.ERROR) -> NoReturn:
    typer.echo(f"pfedit: error: {message}", err=True)
    raise typer.Exit(int(code))


def warn(message: str) -> None:
    typer.echo(f"pfedit: warning: {message}", err=True)


def print_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))
