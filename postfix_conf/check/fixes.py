"""Fix texts that are safe to paste: exact commands for the directory that was checked.

A finding's ``fix`` is either one shell command line (``a && b`` at most) that a user can
paste as printed, or prose that says what to do by hand; never a command with a remark
after it (``pfedit unset x (or ...)`` is a bash syntax error). Every command here:

* names the checked directory (``pfedit set -c DIR``, ``postconf -c DIR``, ``postmap -c DIR``),
  so pasting it edits the files that were checked, not /etc/postfix; ``-c`` is left out only
  for /etc/postfix itself;
* quotes every word with :func:`shlex.quote`;
* changes a setting where it is in effect: a value that comes from a master.cf entry's ``-o``
  (or a problem that concerns one entry only) is fixed with ``postconf -P`` on that entry,
  never by widening it to main.cf, which would change every service of the server.

``postconf -P`` of Postfix 3.7 refuses whitespace in a value, so list values are written
with commas there.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..master_cf import Service
from ..view import ConfigView, service_label, split_list

DEFAULT_CONFIG_DIR = Path("/etc/postfix")


def _dir(cfg: ConfigView) -> list[str]:
    return [] if cfg.config_dir == DEFAULT_CONFIG_DIR else ["-c", str(cfg.config_dir)]


def _line(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


def pfedit_set(cfg: ConfigView, assignments: list[tuple[str, str]]) -> str:
    return _line("pfedit", "set", *_dir(cfg), *(f"{n}={v}" for n, v in assignments))


def pfedit_unset(cfg: ConfigView, names: list[str]) -> str:
    return _line("pfedit", "unset", *_dir(cfg), *names)


def pfedit_get(cfg: ConfigView, name: str) -> str:
    return _line("pfedit", "get", *_dir(cfg), name)


def postconf_value(value: str) -> str:
    """``value`` as ``postconf -P`` takes it: list elements joined by commas (no whitespace)."""
    if not any(c.isspace() for c in value):
        return value
    return ",".join(split_list(value))


def postconf_set(cfg: ConfigView, service: Service, assignments: list[tuple[str, str]]) -> str:
    label = service_label(service)
    return _line("postconf", *_dir(cfg), "-P", *(f"{label}/{n}={postconf_value(v)}" for n, v in assignments))


def postconf_remove(cfg: ConfigView, service: Service, names: list[str]) -> str:
    label = service_label(service)
    return _line("postconf", *_dir(cfg), "-PX", *(f"{label}/{n}" for n in names))


def set_in(cfg: ConfigView, service: Service | None, assignments: list[tuple[str, str]]) -> str:
    """Set parameters in main.cf (``service`` None) or as ``-o`` of that entry."""
    if service is None:
        return pfedit_set(cfg, assignments)
    return postconf_set(cfg, service, assignments)


def remove_in(cfg: ConfigView, service: Service | None, names: list[str]) -> str:
    """Remove parameters from main.cf (``service`` None) or the ``-o`` of that entry."""
    if service is None:
        return pfedit_unset(cfg, names)
    return postconf_remove(cfg, service, names)


def scope(service: Service | None, name: str, *, local: bool = False) -> Service | None:
    """Where to change ``name`` for a problem seen in ``service``: the entry when its ``-o`` sets
    the name or the whole problem belongs to that entry (``local``), else main.cf."""
    if service is not None and (local or name in service.options):
        return service
    return None


def set_where(cfg: ConfigView, service: Service | None, assignments: list[tuple[str, str]], *,
              local: bool = False) -> str:
    """:func:`set_in`, each name in its own :func:`scope` (main.cf and entry commands joined)."""
    main = [(n, v) for n, v in assignments if scope(service, n, local=local) is None]
    entry = [(n, v) for n, v in assignments if scope(service, n, local=local) is not None]
    commands = ([pfedit_set(cfg, main)] if main else []) + (
        [postconf_set(cfg, service, entry)] if entry and service is not None else [])
    return chain(*commands)


def rename_main(cfg: ConfigView, old: str, new: str) -> str:
    """Move a misspelled main.cf setting's value to the right name (the value is not printed)."""
    return (f'{_line("pfedit", "set", *_dir(cfg))} {shlex.quote(new + "=")}"$({pfedit_get(cfg, old)})" && '
            + pfedit_unset(cfg, [old]))


def rename_option(cfg: ConfigView, service: Service, old: str, new: str) -> str:
    """The same for an entry's ``-o`` (``postconf -Ph`` prints the value, so it is not printed here)."""
    label = service_label(service)
    get = _line("postconf", *_dir(cfg), "-Ph", f"{label}/{old}")
    return (f'{_line("postconf", *_dir(cfg), "-P")} {shlex.quote(f"{label}/{new}=")}"$({get})" && '
            + postconf_remove(cfg, service, [old]))


def chain(*commands: str) -> str:
    return " && ".join(c for c in commands if c)


def rebuild(cfg: ConfigView, tool: str, spec: str) -> str:
    """``postmap -c DIR type:/path`` (``postalias`` for alias maps)."""
    return _line(tool, *_dir(cfg), spec)


def relay_auth(cfg: ConfigView, relayhost: str) -> str:
    """The relay recipe for the default transport; USER (the user name) and FILE (a 0600 file holding
    the password) are for the user to fill in."""
    return _line("pfedit", "apply", "relay-auth", *_dir(cfg), "--relayhost", relayhost) + \
        " --username USER --password-file FILE"


def file_command(*words: str) -> str:
    """``chmod``/``chown`` of a file named by its full path (no config dir involved)."""
    return _line(*words)
