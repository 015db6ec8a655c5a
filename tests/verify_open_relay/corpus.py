"""Corpus configurations made runnable on this machine, for ``check`` vs ``verify open-relay``.

Configuration ``i`` is main.cf ``i`` with master.cf ``i`` (the corpus has fewer
master.cf files; the rest get Debian's stock master.cf, so every main.cf is probed
with at least its port-25 smtpd). The files come from other machines, so before
either tool looks at them, three things are "installed" through the library (the
same prepared directory is then given to both ``pfedit check`` and ``pfedit verify
open-relay``, so the comparison is fair whatever the preparation changes):

- installation paths (``daemon_directory`` & co.) become this machine's;
- TLS certificate and key settings point to the test certificate (smtpd would
  otherwise disable TLS, and services that require it would refuse everyone);
- every file table (``hash:/etc/postfix/x``, ``$config_directory/x``) is moved to
  ``tables/`` in the prepared directory and created empty (and postmapped); kinds
  this Postfix is built without become the nearest one it has (pcre -> regexp,
  lmdb/cdb -> hash) and database tables (mysql, ldap ...) an empty texthash:
  smtpd answers "Temporary lookup failure" for a table it cannot open, which
  decides nothing, and an empty table gives both tools the same, known content.
"""

from __future__ import annotations

import contextlib
import grp
import pwd
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from postfix_conf import MainCf, MasterCf, PostfixConfError
from postfix_conf.postfix_tools import find_tool

from ..conftest import backdate, corpus_files
from ..e2e.certs import CertFiles

STOCK_MASTER = Path("/usr/share/postfix/master.cf.dist")
INSTALL = {"daemon_directory": "/usr/lib/postfix/sbin", "shlib_directory": "/usr/lib/postfix",
           "command_directory": "/usr/sbin", "meta_directory": "/etc/postfix", "sendmail_path": "/usr/sbin/sendmail",
           "newaliases_path": "/usr/bin/newaliases", "mailq_path": "/usr/bin/mailq"}
TLS_FILES = ("smtpd_tls_chain_files", "smtpd_tls_eccert_file", "smtpd_tls_eckey_file", "smtpd_tls_dcert_file",
             "smtpd_tls_dkey_file", "smtpd_tls_CAfile", "smtpd_tls_CApath", "smtpd_tls_dh1024_param_file",
             "smtpd_tls_dh512_param_file")
_LABELS = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_HOSTNAME = re.compile(rf"(?:{_LABELS}\.)?(?:\$\{{?(?:myhostname|mydomain)\}}?)(?:\.{_LABELS})?|{_LABELS}")
_INDEXED = {"hash", "btree"}
_FILE_KINDS = {"hash", "btree", "texthash", "regexp", "cidr"}
_SWAP = {"pcre": "regexp", "lmdb": "hash", "cdb": "hash", "dbm": "hash", "sdbm": "hash"}  # not built here
_PATH_LISTS = ("mydestination", "relay_domains", "virtual_alias_domains", "virtual_mailbox_domains", "mynetworks",
               "permit_mx_backup_networks", "smtpd_client_event_limit_exceptions", "smtpd_sasl_exceptions_networks")
_DATABASES = ("mysql", "pgsql", "ldap", "sqlite", "mongodb", "memcache", "socketmap", "tcp", "nis", "nisplus")
_KINDS = "|".join(sorted(_FILE_KINDS | set(_SWAP)))
_REF = re.compile(rf"\b(?:proxy:)?({_KINDS}):(/[^\s,}}]+|\$\{{?config_directory\}}?/[^\s,}}]+)")
_DB_REF = re.compile(rf"\b(?:proxy:)?(?:{'|'.join(_DATABASES)}):[^\s,}}]+")


def _relocate(text: str, d: Path) -> tuple[str, set[tuple[str, Path]]]:
    """File tables moved under d/tables, kinds this Postfix lacks swapped, databases made empty tables."""
    tables: set[tuple[str, Path]] = set()

    def file_table(m: re.Match[str]) -> str:
        kind = _SWAP.get(m.group(1), m.group(1))
        path = re.sub(r"^\$\{?config_directory\}?/", "etc/postfix/", m.group(2)).lstrip("/")
        where = d / "tables" / path.removesuffix(".db")
        tables.add((kind, where))
        return f"{kind}:{where}"

    def database(m: re.Match[str]) -> str:
        tables.add(("texthash", d / "tables" / "empty"))
        return f"texthash:{d}/tables/empty"

    return _DB_REF.sub(database, _REF.sub(file_table, text)), tables


def _exists(name: str, value: str) -> bool:
    try:
        (pwd.getpwnam if name == "mail_owner" else grp.getgrnam)(value)
    except KeyError:
        return False
    return True


def _relocate_paths(value: str, d: Path, tables: set[tuple[str, Path]]) -> str:
    def path(m: re.Match[str]) -> str:
        where = d / "tables" / m.group(2).lstrip("/")
        tables.add(("file", where))
        return f"{m.group(1)}{where}"

    return re.sub(r"(^|[\s,])(/[^\s,]+)", path, value)


def _make_tables(d: Path, tables: set[tuple[str, Path]], compile_maps: bool) -> None:
    postmap = find_tool("postmap")
    for kind, source in sorted(tables):
        try:
            source.parent.mkdir(parents=True, exist_ok=True)
            if not source.exists():
                source.write_text("")
        except OSError:  # a path that is a file in one reference and a directory in another
            continue
        if compile_maps and kind in _INDEXED and postmap is not None:
            subprocess.run([postmap, "-c", str(d), f"{kind}:{source}"], capture_output=True, timeout=30,
                           check=False)


@dataclass(frozen=True)
class CorpusConfig:
    index: int
    main: Path
    master: Path | None  # None: Debian's stock master.cf

    @property
    def name(self) -> str:
        return f"{self.main.stem}+{self.master.stem if self.master else 'stock'}"


def corpus_configs() -> list[CorpusConfig]:
    mains, masters = corpus_files("main.cf"), corpus_files("master.cf")
    return [CorpusConfig(i, m, masters[i] if i < len(masters) else None) for i, m in enumerate(mains)]


def prepare(config: CorpusConfig, d: Path, certs: CertFiles, *, compile_maps: bool = True) -> Path:
    """Write the runnable copy of ``config`` into ``d`` (a new directory) and return it.

    ``compile_maps=False`` skips ``postmap`` (enough for ``pfedit check``, which reads sources).
    """
    d.mkdir(parents=True)
    main_text, main_tables = _relocate(config.main.read_bytes().decode("utf-8", "surrogateescape"), d)
    master_raw = (config.master or STOCK_MASTER).read_bytes().decode("utf-8", "surrogateescape")
    master_text, master_tables = _relocate(master_raw, d)
    main, master = MainCf.parse(main_text), MasterCf.parse(master_text)
    for name in _PATH_LISTS:  # "virtual_mailbox_domains = /etc/mail/domains": a file of patterns
        value = main.get(name)
        if value and "/" in value:
            main_text = main_text.replace(value, _relocate_paths(value, d, main_tables))
    main = MainCf.parse(main_text)
    if "alias_maps" not in main:  # the default, hash:/etc/aliases, is machine-specific too
        line, alias_tables = _relocate("alias_maps = hash:/etc/aliases\n", d)
        main_tables |= alias_tables
        main = MainCf.parse(main_text.rstrip("\n") + "\n" + line)
    settings = {**{k: v for k, v in INSTALL.items() if k in main},
                "smtpd_tls_cert_file": str(certs.cert_file), "smtpd_tls_key_file": str(certs.key_file)}
    for name in ("myhostname", "mydomain", "myorigin"):  # templates: "##HOSTNAME##", "${DOMAIN}", empty
        value = main.get(name)
        if value is not None and not value.startswith("/") and not _HOSTNAME.fullmatch(value.strip()):
            settings[name] = f"{name}.corpus.example"
    for name, default in (("mail_owner", "postfix"), ("setgid_group", "postdrop")):
        value = main.get(name)
        if value is not None and not _exists(name, value.strip()):
            settings[name] = default
    origin = main.get("myorigin") or ""
    if origin.startswith("/") and not Path(origin).exists():  # Debian's /etc/mailname
        settings["myorigin"] = "$myhostname"
    if "tls_config_file" in main:
        settings["tls_config_file"] = ""
    settings.update({name: "" for name in TLS_FILES if name in main})
    for name, value in settings.items():
        with contextlib.suppress(PostfixConfError):  # a malformed definition the library will not edit
            main.set(name, value)
    for s in master.services():
        for name in s.options:
            if name in settings or name in TLS_FILES:
                with contextlib.suppress(PostfixConfError):
                    master.set_option(s.name, s.type, name, settings.get(name, ""))
    (d / "main.cf").write_bytes(main.to_bytes())
    (d / "master.cf").write_bytes(master.to_bytes())
    backdate(d / "main.cf")
    backdate(d / "master.cf")
    _make_tables(d, main_tables | master_tables, compile_maps)
    return d
