"""The configuration as the checks see it: the library's effective view, plus what ``check`` collects.

:class:`Config` is :class:`postfix_conf.view.ConfigView` (effective values, ``-o``
overrides, built-in defaults, locations) read from a directory, with the findings that
reading produced, the Postfix version the files are meant for, and the credentials seen
(which no message may quote).
"""

from __future__ import annotations

from pathlib import Path

from ..main_cf import MainCf
from ..master_cf import MasterCf
from ..view import ConfigView, command_name, service_label, split_list, split_plain, unbrace
from .findings import Finding, make

__all__ = ["Config", "command_name", "service_label", "split_list", "split_plain", "unbrace"]


class Config(ConfigView):
    """One config directory being checked."""

    def __init__(self, config_dir: str | Path, main: MainCf | None, master: MasterCf | None, *,
                 postfix_version: tuple[int, ...] = (3, 7)) -> None:
        super().__init__(config_dir, main, master)
        self.postfix_version = postfix_version
        self.load_findings: list[Finding] = []
        self.secrets: set[str] = set()

    @classmethod
    def load(cls, config_dir: str | Path, postfix_version: tuple[int, ...] = (3, 7)) -> Config:
        d = Path(config_dir)
        main_path, master_path = str(d / "main.cf"), str(d / "master.cf")
        found: list[Finding] = []
        main = master = None
        try:
            main = MainCf.read(main_path)
        except OSError as exc:
            found.append(make(
                "config-file-missing", main_path, None, f"cannot read main.cf: {exc.strerror or exc}; every "
                "Postfix program stops with 'fatal: open ... main.cf'",
                f"create {main_path} (an empty file means all defaults), or pass --config-dir"))
        try:
            master = MasterCf.read(master_path)
        except OSError as exc:
            found.append(make(
                "config-file-missing", master_path, None, f"cannot read master.cf: {exc.strerror or exc}; "
                "the master daemon cannot start", f"copy the stock file to {master_path} "
                "(Debian: /usr/share/postfix/master.cf.dist)"))
        cfg = cls(d, main, master, postfix_version=postfix_version)
        cfg.load_findings = found
        return cfg
