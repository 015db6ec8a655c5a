"""Masking credentials in anything pfedit prints.

Password-map values are ``user:password``. A diff of the map shows each value as
``user:********`` (the user name helps review; the password never appears), and
:func:`mask` removes known secrets from any other text as a second line of defence.
"""

from __future__ import annotations

import re

MASK = "********"
_TABLE_LINE = re.compile(r"^([ +-])(\S+)([ \t]+)([^\n]*?)(\r?)$")


def mask_value(value: str) -> str:
    user, sep, _ = value.partition(":")
    return f"{user}:{MASK}" if sep else MASK


def redact_table_diff(diff: str) -> str:
    """A unified diff of a password map with every value's password replaced by ``********``."""
    out = []
    for line in diff.split("\n"):
        if line.startswith(("---", "+++", "@@", "\\")):
            out.append(line)
            continue
        m = _TABLE_LINE.match(line)
        if m is None or m.group(2).startswith("#"):
            out.append(line if not line[1:].strip() or line[1:].lstrip().startswith("#") else line[:1] + MASK)
            continue
        out.append(f"{m.group(1)}{m.group(2)}{m.group(3)}{mask_value(m.group(4))}{m.group(5)}")
    return "\n".join(out)


def mask(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced by ``********``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
