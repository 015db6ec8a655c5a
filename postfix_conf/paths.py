"""Where a Postfix configuration is, by Postfix's own rule (a module of its own: it is
asked before anything else runs, and must not pull the rest of the library in)."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The configuration directory ``postconf`` would use: ``given`` (``-c``), else
    ``$MAIL_CONFIG``, else ``/etc/postfix``. What the CLI and the Ansible modules default to."""
    if given:
        return Path(given)
    return Path(os.environ.get("MAIL_CONFIG") or "/etc/postfix")
