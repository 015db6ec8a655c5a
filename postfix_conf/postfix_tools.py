"""Thin wrappers around the installed Postfix programs (``postconf``, ``postmap``, ``postfix``).

Kept out of the package's import path: only recipes import this, when they run. Every
call passes ``-c DIR`` so the machine's own ``/etc/postfix`` is never consulted by
accident, no secret is ever put on a command line (postmap reads the map file), and
a missing program is reported with the exact command the user should run instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import PostfixConfError

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


class PostfixToolError(PostfixConfError):
    """A Postfix program failed or is not installed; the message says what to run."""


@dataclass(frozen=True)
class ToolResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def find_tool(name: str) -> str | None:
    """The program's path, looking in the sbin directories too (often not on a user's PATH)."""
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN_DIRS:
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def run_tool(name: str, args: list[str], *, timeout: float = 60.0) -> ToolResult:
    """Run a Postfix program; raise :class:`PostfixToolError` when it is missing or hangs.

    Output goes through temporary files, not pipes: ``postfix reload`` leaves a
    background ``postsuper`` that would hold a pipe open after the command returned.
    """
    path = find_tool(name)
    if path is None:
        raise PostfixToolError(f"{name} is not installed; run by hand: {name} {' '.join(args)}")
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
    env["LANG"] = "C"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run([path, *args], stdout=out, stderr=err, env=env, timeout=timeout,
                                  check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PostfixToolError(f"{name} {' '.join(args)} did not finish within {timeout:.0f}s") from None
        out.seek(0)
        err.seek(0)
        return ToolResult((path, *args), proc.returncode, out.read().decode("utf-8", "replace"),
                          err.read().decode("utf-8", "replace"))


def default_database_type(config_dir: Path) -> str | None:
    """The ``default_database_type`` in effect: main.cf's own setting, else postconf's default.

    main.cf is read with our parser rather than ``postconf -h``: postconf re-reads a
    main.cf written within the last second, for seconds, and we may just have written it.
    """
    from .main_cf import MainCf

    try:
        value = MainCf.read(config_dir / "main.cf").get("default_database_type")
    except OSError:
        value = None
    if value and "$" not in value:
        return value.strip()
    if find_tool("postconf") is None:
        return None
    result = run_tool("postconf", ["-d", "-h", "default_database_type"])
    value = result.stdout.strip()
    return value if result.ok and value else None


def postmap(config_dir: Path, map_type: str, path: Path) -> ToolResult:
    """Compile a table source (the password never appears on the command line)."""
    return run_tool("postmap", ["-c", str(config_dir), f"{map_type}:{path}"])


def empty_config_dir(scratch: Path) -> Path:
    """An empty config dir under ``scratch``, for questions that must not read the user's files
    (a broken master.cf stops postconf) nor the machine's ``/etc/postfix``."""
    d = scratch / "empty"
    d.mkdir(parents=True, exist_ok=True)
    for name in ("main.cf", "master.cf"):
        (d / name).write_bytes(b"")
        os.utime(d / name, (978307200, 978307200))
    return d


def installed_version() -> str | None:
    """``mail_version`` of the installed Postfix, or None without postconf (or when it fails).

    Asked with ``-c`` of an empty directory: the version is compiled in, and the user's own
    files may be exactly what is broken.
    """
    if find_tool("postconf") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="pfedit-") as scratch:
        try:
            result = run_tool("postconf", ["-c", str(empty_config_dir(Path(scratch))), "-d", "-h", "mail_version"],
                              timeout=20)
        except PostfixToolError:
            return None
    value = result.stdout.strip()
    return value if result.ok and value else None


def map_types(config_dir: Path) -> frozenset[str] | None:
    """The lookup table types this Postfix supports (``postconf -m``: built in, plus the dynamic
    ones its ``meta_directory`` registers); None without postconf. ``config_dir`` should be
    :func:`empty_config_dir`: the answer is the installation's, and a main.cf that postconf
    cannot read (``myorigin = /etc/mailname`` on another host) must not hide it."""
    if find_tool("postconf") is None:
        return None
    result = run_tool("postconf", ["-c", str(config_dir), "-m"])
    if not result.ok:
        raise PostfixToolError(f"postconf -m failed: {result.stderr.strip() or result.returncode}")
    return frozenset(result.stdout.split())


def postconf_errors(config_dir: Path) -> list[str]:
    """Fatal errors and warnings ``postconf -n`` and ``postconf -M`` print for a directory."""
    problems: list[str] = []
    for flag in ("-n", "-M"):
        result = run_tool("postconf", ["-c", str(config_dir), flag])
        problems.extend(line for line in result.stderr.splitlines() if "fatal:" in line or "warning:" in line)
        if not result.ok and not any("fatal:" in p for p in problems):
            problems.append(f"postconf {flag} exited with status {result.returncode}")
    return problems


def stage_and_validate(config_dir: Path, contents: dict[str, bytes], scratch: Path) -> list[str]:
    """Problems the new main.cf/master.cf would introduce, as postconf sees them.

    Both the current and the new files are copied to scratch directories and read with
    ``postconf -n``/``-M``; only messages that the new files add are returned (with the
    scratch path replaced by the real one), so an old unrelated warning never blocks.
    """
    if find_tool("postconf") is None:
        return []
    old_dir, new_dir = scratch / "old", scratch / "new"
    for d in (old_dir, new_dir):
        d.mkdir(parents=True, exist_ok=True)
    for name in ("main.cf", "master.cf"):
        current = config_dir / name
        old = current.read_bytes() if current.exists() else b""
        (old_dir / name).write_bytes(old)
        (new_dir / name).write_bytes(contents.get(name, old))
        for d in (old_dir, new_dir):
            os.utime(d / name, (978307200, 978307200))  # postconf re-reads "hot" main.cf files
    before = {p.replace(str(old_dir), str(config_dir)) for p in postconf_errors(old_dir)}
    after = [p.replace(str(new_dir), str(config_dir)) for p in postconf_errors(new_dir)]
    return [p for p in after if p not in before and "fatal:" in p]


def postfix_check(config_dir: Path) -> ToolResult:
    return run_tool("postfix", ["-c", str(config_dir), "check"])


def postfix_status(config_dir: Path) -> ToolResult:
    """Exit status 0 when the Postfix of this config dir is running."""
    return run_tool("postfix", ["-c", str(config_dir), "status"])


def postfix_reload(config_dir: Path) -> ToolResult:
    return run_tool("postfix", ["-c", str(config_dir), "reload"])
