"""Helpers that ask the real ``postconf`` what it reads (always with ``-c DIR``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .conftest import POSTCONF, backdate, run_postfix_tool

_FOLD = re.compile(r"[ \t\r\n]+")


def fold(value: str) -> str:
    """What ``pcf_print_line()`` does to a value: runs of SP TAB CR LF become one space."""
    return _FOLD.sub(" ", value).strip(" ")


def printable(text: str) -> str:
    """How Postfix logs a string: every byte outside printable ASCII becomes '?'."""
    raw = text.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in raw)


@dataclass
class PostconfN:
    ok: bool
    params: dict[str, str]  # as printed (folded), config_directory dropped
    unused: set[str]  # names reported as "unused parameter"
    stderr: str


def postconf_n(config_dir: Path) -> PostconfN:
    assert POSTCONF is not None
    for name in ("main.cf", "master.cf"):
        if (config_dir / name).exists():
            backdate(config_dir / name)
    proc = run_postfix_tool([POSTCONF, "-c", str(config_dir), "-n"])
    out = proc.stdout.decode("utf-8", "surrogateescape")
    err = proc.stderr.decode("utf-8", "surrogateescape")
    params: dict[str, str] = {}
    for line in out.split("\n"):
        if not line:
            continue
        name, _, value = line.partition(" =")
        params[name] = value[1:] if value.startswith(" ") else value
    params.pop("config_directory", None)
    unused = set(re.findall(r"/main\.cf: unused parameter: ([^=\n]*)=", err))
    return PostconfN(proc.returncode == 0, params, unused, err)
