"""What smtp(8) will use when it hands a message to the relay, read from in-memory documents.

``pfedit verify relay`` tests the settings Postfix *will* use, so everything here follows
the SMTP client: the default transport's master.cf entry with its ``-o`` overrides on top
of main.cf, ``$name`` expansion, the built-in defaults (host-dependent ones computed as
Postfix computes them), and the password lookup of ``smtp_sasl_passwd_lookup()``: for one
destination the keys are tried in order, and each key goes through every table of
``smtp_sasl_password_maps`` before the next key is tried (spec 7.1).

The documents are passed in, not read here, so the same code can check *planned* files
before they are written (``apply relay-auth --verify``). Tables come from ``read_table``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..main_cf import MainCf
from ..maps import FILE_TYPES, parse_maps
from ..master_cf import MasterCf, Service
from ..relayhost import Destination, RelayhostError, parse_relayhost, sasl_lookup_keys
from ..table import LookupTable, fold_key, split_credentials
from ..view import ConfigView, client_contexts, split_list, tls_level, unbrace

TableReader = Callable[[str], LookupTable | None]
"""``read_table(path)``: the table source at ``path`` (planned or on disk), or None when absent."""



@dataclass(frozen=True)
class Credentials:
    """One password map entry as smtp(8) would use it. The password is never shown by repr()."""

    username: str
    password: str = field(repr=False)
    key: str  # the lookup key that matched, as smtp(8) asked for it
    table: str  # e.g. "hash:/etc/postfix/sasl_passwd"
    line: int | None = None  # line in the table source, when known


class _Table:
    """A readable table: a postmap source, or the entries of ``static:``/``inline:``."""

    def __init__(self, spec: str, table: LookupTable | dict[str, str]) -> None:
        self.spec = spec
        self._table = table

    def get(self, key: str) -> tuple[str, int | None] | None:
        if isinstance(self._table, LookupTable):
            found = self._table.definitions(key)
            return (found[0].value, found[0].line) if found else None
        value = self._table.get("*", self._table.get(fold_key(key)))
        return None if value is None else (value, None)

    def values(self) -> list[str]:
        if isinstance(self._table, LookupTable):
            return list(self._table.entries().values())
        return list(self._table.values())


@dataclass
class ClientSettings:
    """The SMTP client's view of one config directory (no secrets in repr)."""

    config_dir: Path
    service: str  # the master.cf entry whose -o options apply, e.g. "smtp/unix"
    relayhost: str  # the expanded value that names the relay
    relayhost_source: str  # "relayhost" or "default_transport"
    destinations: list[Destination]
    relayhost_error: str | None
    tls_level: str
    wrapper: bool
    ca_file: str
    ca_path: str
    trust_anchor_file: str
    append_default_ca: bool
    verify_cert_match: list[str]
    secure_cert_match: list[str]
    fingerprint_digest: str
    fingerprints: list[str]
    tls_servername: str  # smtp_tls_servername: SNI ("" sends none)
    sasl_enabled: bool
    sasl_type: str
    mechanism_filter: list[str]
    security_options: list[str]  # smtp_sasl_security_options: no TLS
    tls_security_options: list[str]  # smtp_sasl_tls_security_options: TLS, peer not verified
    verified_security_options: list[str]  # smtp_sasl_tls_verified_security_options
    password_maps: list[str]
    sender_dependent_auth: bool
    helo_name: str
    myhostname: str
    sender: str  # envelope sender of mail from the local root, after smtp_generic_maps
    host_lookup: list[str]  # smtp_host_lookup: dns, native
    inet_protocols: list[str]
    notes: list[str] = field(default_factory=list)
    _tables: list[_Table] = field(default_factory=list, repr=False)

    def lookup_keys(self, dest: Destination, server_host: str | None = None) -> list[str]:
        """Password map keys smtp(8) tries for ``dest`` when connected to ``server_host``."""
        keys = [server_host] if server_host else []
        keys.extend(sasl_lookup_keys(dest))
        if self.sender_dependent_auth and self.sender:
            keys[:0] = [self.sender, "@" + self.sender.rpartition("@")[2]]
        return list(dict.fromkeys(keys))

    def credentials_for(self, dest: Destination, server_host: str | None = None) -> Credentials | None:
        """The first key that any table knows wins; within a key, the first table wins."""
        for key in self.lookup_keys(dest, server_host):
            for table in self._tables:
                hit = table.get(key)
                if hit is not None:
                    user, password = split_credentials(hit[0])
                    return Credentials(user, password, key, table.spec, hit[1])
        return None

    def secrets(self) -> list[str]:
        """Every password in the readable password maps, to mask them out of any text."""
        out = {split_credentials(v)[1] for t in self._tables for v in t.values()}
        return sorted((s for s in out if s), key=lambda s: (-len(s), s))


def client_settings(config_dir: Path, main: MainCf, master: MasterCf | None,
                    read_table: TableReader, *, sender: str | None = None) -> ClientSettings:
    """The settings smtp(8) uses for the default transport, from (possibly planned) documents.

    With ``sender`` (an address, or ``@domain`` for a whole domain): what it uses for that
    sender's mail -- the relay of ``sender_dependent_relayhost_maps``, the transport of
    ``sender_dependent_default_transport_maps`` with its ``-o`` options, the credentials
    keyed by the sender -- as for a ``pfedit apply relay-auth --sender`` account.
    """
    cfg = ConfigView(config_dir, main, master)
    contexts = client_contexts(cfg)
    service = contexts[0] if contexts else None
    notes: list[str] = []
    routed: tuple[str, str] | None = None
    if sender is not None:
        keys = [sender, "@" + sender.rpartition("@")[2]] if not sender.startswith("@") else [sender]
        transport = _first(_tables(cfg, None, "sender_dependent_default_transport_maps", read_table, notes), keys)
        if transport is not None:
            name = transport.partition(":")[0].strip()
            found = cfg.service(name, "unix")
            service = found if found is not None else service
        relay = _first(_tables(cfg, None, "sender_dependent_relayhost_maps", read_table, notes), keys)
        if relay is not None:
            routed = relay, "sender_dependent_relayhost_maps"

    def value(name: str) -> str:
        return cfg.value(name, service).strip()

    def words(name: str) -> list[str]:
        return cfg.words(name, service)

    def boolean(name: str) -> bool:
        return cfg.boolean(name, service) is True

    relayhost, source = value("relayhost"), "relayhost"
    nexthop = value("default_transport").partition(":")[2].strip()
    if nexthop:
        relayhost, source = nexthop, "default_transport"
    if routed is not None:
        relayhost, source = routed
    dests: list[Destination] = []
    error = None
    try:
        dests = parse_relayhost(relayhost)
    except RelayhostError as exc:
        error = str(exc)
    for name in ("sender_dependent_relayhost_maps", "sender_dependent_default_transport_maps", "transport_maps",
                 "smtp_tls_policy_maps"):
        if value(name) and not (sender is not None and name.startswith("sender_dependent")):
            notes.append(f"{name} is set: entries there can override what is tested here")
    tables = _tables(cfg, service, "smtp_sasl_password_maps", read_table, notes)
    myhostname = value("myhostname")
    return ClientSettings(
        config_dir=config_dir,
        service=f"{service.name}/{service.type}" if service is not None else "main.cf",
        relayhost=relayhost, relayhost_source=source, destinations=dests, relayhost_error=error,
        tls_level=tls_level(cfg, service), wrapper=boolean("smtp_tls_wrappermode"),
        ca_file=value("smtp_tls_CAfile"), ca_path=value("smtp_tls_CApath"),
        trust_anchor_file=value("smtp_tls_trust_anchor_file"), append_default_ca=boolean("tls_append_default_CA"),
        verify_cert_match=words("smtp_tls_verify_cert_match"), secure_cert_match=words("smtp_tls_secure_cert_match"),
        fingerprint_digest=value("smtp_tls_fingerprint_digest").lower() or "sha256",
        fingerprints=words("smtp_tls_fingerprint_cert_match"), tls_servername=value("smtp_tls_servername"),
        sasl_enabled=boolean("smtp_sasl_auth_enable"), sasl_type=value("smtp_sasl_type") or "cyrus",
        mechanism_filter=words("smtp_sasl_mechanism_filter"),
        security_options=words("smtp_sasl_security_options"),
        tls_security_options=words("smtp_sasl_tls_security_options"),
        verified_security_options=words("smtp_sasl_tls_verified_security_options"),
        password_maps=[t.spec for t in tables], sender_dependent_auth=boolean("smtp_sender_dependent_authentication"),
        helo_name=value("smtp_helo_name") or myhostname, myhostname=myhostname,
        sender=_sender(cfg, service, read_table, notes) if sender is None
        else ("postmaster" + sender if sender.startswith("@") else sender),  # a domain account: one of its addresses
        host_lookup=[w.lower() for w in words("smtp_host_lookup")] or ["dns"],
        inet_protocols=[w.lower() for w in words("inet_protocols")] or ["all"],
        notes=notes, _tables=tables)


def _first(tables: list[_Table], keys: list[str]) -> str | None:
    for key in keys:
        for table in tables:
            hit = table.get(key)
            if hit is not None:
                return hit[0].strip()
    return None


def _tables(cfg: ConfigView, service: Service | None, param: str, read_table: TableReader,
            notes: list[str]) -> list[_Table]:
    """The readable tables of one parameter, in order; a note for each one that is not."""
    out: list[_Table] = []
    for ref in parse_maps(cfg.value(param, service)):
        spec, kind, name = ref.spec, ref.kind, ref.name
        if kind == "static":
            out.append(_Table(spec, {"*": unbrace(name)}))
        elif kind == "inline":
            items = (item.partition("=") for item in split_list(unbrace(name)))
            out.append(_Table(spec, {fold_key(k.strip()): v.strip() for k, _, v in items}))
        elif kind in FILE_TYPES and name.startswith("/"):
            table = read_table(name)
            if table is None:
                notes.append(f"{param}: {spec} does not exist")
            else:
                out.append(_Table(spec, table))
        else:
            notes.append(f"{param}: {spec} is a {kind}: table, which pfedit cannot read")
    return out


def _sender(cfg: ConfigView, service: Service | None, read_table: TableReader, notes: list[str]) -> str:
    """``root@$myorigin``, rewritten by ``smtp_generic_maps`` (full address, then ``@domain``)."""
    sender = "root@" + cfg.value("myorigin", service).strip()
    tables = _tables(cfg, service, "smtp_generic_maps", read_table, notes)
    for key in (sender, "@" + sender.rpartition("@")[2]):
        for table in tables:
            hit = table.get(key)
            if hit is not None:
                return hit[0].strip()
    return sender
