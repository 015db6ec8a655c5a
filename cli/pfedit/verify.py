"""``pfedit verify``: live checks against real servers."""

from __future__ import annotations

import typer

from . import verify_open_relay

app = typer.Typer(no_args_is_help=True, help="Prove it live: run the real Postfix against your configuration.")
app.command("open-relay")(verify_open_relay.open_relay)
