"""Relay correctness: will smtp(8) reach the relayhost, speak TLS to it and log in?

Everything here is checked when smtp(8) delivers, never by ``postfix check`` (spec
8.4): a malformed relayhost is fatal for the delivery agent, a port-465 relay needs
wrapper mode, the password map key must match the relayhost as written (spec 7.1),
and the SASL security options decide which mechanisms may be used.

The client context is the ``default_transport`` service (``smtp/unix``) with its
``-o`` options; other ``smtp`` services that override SASL/TLS/relayhost settings
are checked too, each on its own.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from ..master_cf import Service
from ..relayhost import Destination, RelayhostError, implicit_tls, parse_relayhost, sasl_lookup_keys
from ..table import LookupTable, fold_key
from ..view import CLIENT_OPTIONS as _CLIENT_OPTIONS
from ..view import client_contexts, tls_level
from . import fixes
from .context import Config, service_label, split_list, unbrace
from .findings import Finding, make
from .maps import MapRef, freshness, maps_of, permissions

MANDATORY_TLS = frozenset({"encrypt", "dane-only", "fingerprint", "verify", "secure"})
VERIFIED_TLS = frozenset({"dane-only", "fingerprint", "verify", "secure"})
SASL_OPTIONS = frozenset({"noplaintext", "noactive", "nodictionary", "noanonymous", "mutual_auth",
                          "forward_secrecy", "mutual-auth", "forward-secrecy"})
MECHANISMS = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "NTLM", "GSSAPI", "GSS-SPNEGO", "GS2-KRB5",
                        "GS2-IAKERB", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-224", "SCRAM-SHA-256",
                        "SCRAM-SHA-256-PLUS", "SCRAM-SHA-384", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS", "XOAUTH2",
                        "OAUTHBEARER", "ANONYMOUS", "EXTERNAL", "OTP", "SRP", "PASSDSS-3DES-1", "KERBEROS_V4"})
_PLUGIN_HINTS = ("lib", ".so", "sasl", "plugin", "cyrus", "auxprop", "saslauthd")


@dataclass
class _Tables:
    """The password maps of one context, readable or not."""

    refs: list[MapRef]
    tables: list[tuple[MapRef, LookupTable | dict[str, str] | None]] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return all(t is not None for _, t in self.tables)

    def get(self, key: str) -> tuple[MapRef, str, int | None] | None:
        for ref, table in self.tables:
            if isinstance(table, LookupTable):
                value = table.get(key)
                if value is not None:
                    return ref, value, table.definitions(key)[0].line
            elif table is not None:
                found = table.get("*") if "*" in table else table.get(fold_key(key))
                if found is not None:
                    return ref, found, None
        return None

    def all_keys(self) -> list[str]:
        out: list[str] = []
        for _, table in self.tables:
            if isinstance(table, LookupTable):
                out.extend(table.entries())
            elif table is not None:
                out.extend(k for k in table if k != "*")
        return out


def _load_tables(cfg: Config, service: Service | None) -> tuple[_Tables, list[Finding]]:
    refs = maps_of(cfg, "smtp_sasl_password_maps", service)
    found = _Tables(refs)
    findings: list[Finding] = []
    for ref in refs:
        table: LookupTable | dict[str, str] | None = None
        if ref.kind == "static":
            table = {"*": unbrace(ref.name)}
        elif ref.kind == "inline":
            table = {fold_key(k.strip()): v.strip() for k, _, v in
                     (item.partition("=") for item in split_list(unbrace(ref.name)))}
        elif ref.is_file:
            try:
                table = LookupTable.read(ref.name)
            except OSError:
                table = None
        if ref.kind in ("static", "inline"):
            findings.append(make("password-in-main-cf", ref.file, ref.line,
                                 f"smtp_sasl_password_maps uses a {ref.kind}: table: the credentials are in "
                                 f"{'master.cf' if ref.service else 'main.cf'}, which every local user can read",
                                 "move them to a 0600 file: "
                                 + fixes.relay_auth(cfg, "[RELAY]:587")))
        if isinstance(table, LookupTable):
            for d in table.diagnostics:
                findings.append(Finding(f"table-{d.code}", d.severity, ref.name, d.line, d.message,
                                        f"edit {ref.name}, then run: "
                                        + fixes.rebuild(cfg, "postmap", f"{ref.kind}:{ref.name}")))
        found.tables.append((ref, table))
        findings.extend(freshness(cfg, ref, missing_code="password-map-missing"))
        findings.extend(permissions(ref))
    return found, findings


def collect_secrets(cfg: Config) -> None:
    """Remember every credential the files hold, so no message can quote one.

    Values of ``*_password_maps`` tables (files, ``static:``, ``inline:``) and of legacy
    database password parameters (``<table>_bind_pw``, ``<table>_password``).
    """
    settings: list[tuple[str, Service | None]] = [(n, None) for n in (
        cfg.main.parameters() if cfg.main is not None else {})]
    for entry in cfg.master.services() if cfg.master is not None else []:
        settings.extend((n, entry) for n in entry.options)
    for name, service in settings:
        if name.endswith(("_bind_pw", "_password")):
            cfg.secrets.add(cfg.raw(name, service) or "")
        if not name.endswith("_password_maps"):
            continue
        for ref in maps_of(cfg, name, service):
            values: list[str] = []
            if ref.kind == "static":
                values = [unbrace(ref.name)]
            elif ref.kind == "inline":
                values = [item.partition("=")[2].strip() for item in split_list(unbrace(ref.name))]
            elif ref.is_file:
                try:
                    values = list(LookupTable.read(ref.name).entries().values())
                except OSError:
                    continue
            for value in values:
                cfg.secrets.add(value)
                password = value.partition(":")[2]
                if len(password) >= 4:  # a shorter one would mask ordinary words
                    cfg.secrets.add(password)
    cfg.secrets.discard("")


def _host_of(key: str) -> str:
    host = key[1:].partition("]")[0] if key.startswith("[") else key.rpartition(":")[0] or key
    return host.lower()


def check_relay(cfg: Config) -> Iterator[Finding]:
    seen_tables: set[tuple[str, str, int | None, str]] = set()
    for n, service in enumerate(client_contexts(cfg)):
        yield from _check_context(cfg, service, seen_tables, default_transport=n == 0)


@dataclass
class _Client:
    """One smtp(8) service being checked, and where its fixes go.

    ``local``: the service has client settings of its own (``-o smtp_sasl_*``...), so a fix
    is made on that entry; main.cf would change every other smtp(8) service too.
    """

    cfg: Config
    service: Service | None
    label: str
    default_transport: bool
    dests: list[Destination] = field(default_factory=list)

    @property
    def local(self) -> bool:
        return bool(self.label)

    def set(self, assignments: list[tuple[str, str]]) -> str:
        return fixes.set_where(self.cfg, self.service, assignments, local=self.local)

    def remove(self, name: str) -> str:
        return fixes.remove_in(self.cfg, fixes.scope(self.service, name, local=self.local), [name])

    def relay_auth(self, relayhost: str) -> str | None:
        """``pfedit apply relay-auth`` when it configures exactly this client (main.cf's default transport)."""
        if not self.default_transport or self.local:
            return None
        return fixes.relay_auth(self.cfg, relayhost)

    def relayhost_value(self) -> str:
        return self.cfg.value("relayhost", self.service).strip()


def _check_context(cfg: Config, service: Service | None, seen_tables: set[tuple[str, str, int | None, str]],
                   default_transport: bool) -> Iterator[Finding]:
    """One smtp(8) service. relayhost only concerns the default transport: other smtp services
    are reached through transport maps with their own next hops, which are not checked here."""
    label = f"{service_label(service)}: " if service is not None and any(
        k.startswith(_CLIENT_OPTIONS) for k in service.options) else ""
    client = _Client(cfg, service, label, default_transport)
    wrapper = cfg.boolean("smtp_tls_wrappermode", service) is True
    level = tls_level(cfg, service)
    if default_transport:
        client.dests = yield from _relayhost(client, wrapper, level)
    if cfg.boolean("smtp_sasl_auth_enable", service) is not True:
        return
    yield from _sasl_options(client, level, wrapper)
    maps_file, maps_line = cfg.where("smtp_sasl_password_maps", service)
    tables, table_findings = _load_tables(cfg, service)
    for f in table_findings:
        if (f.code, f.file, f.line, f.message) not in seen_tables:
            seen_tables.add((f.code, f.file, f.line, f.message))
            yield f
    if not tables.refs:
        a_file, a_line = cfg.where("smtp_sasl_auth_enable", service)
        auth = client.relay_auth(client.relayhost_value()) if client.dests else None
        yield make("sasl-no-password-map", a_file, a_line,
                   f"{label}smtp_sasl_auth_enable = yes but smtp_sasl_password_maps is empty: smtp(8) finds no "
                   "credentials and sends mail without logging in (the relay refuses it)",
                   auth or "name a password map with the credentials of this service's next hop in "
                   "smtp_sasl_password_maps (pfedit apply relay-auth sets up main.cf's relayhost)")
        return
    if not tables.known or not client.dests or cfg.boolean("smtp_sender_dependent_authentication", service):
        return
    for dest in client.dests:
        yield from _credentials(client, dest, tables, maps_file, maps_line)


def _replaced(client: _Client, dest: Destination, text: str) -> str:
    """The relayhost value with ``dest`` written as ``text`` (the other elements as they are)."""
    if len(client.dests) == 1:
        return text
    return ", ".join(text if d is dest else d.text for d in client.dests)


def _set_relayhost(client: _Client, value: str) -> str:
    return fixes.set_where(client.cfg, client.service, [("relayhost", value)])


def _relayhost(client: _Client, wrapper: bool, level: str) -> Generator[Finding, None, list[Destination]]:
    cfg, service, label = client.cfg, client.service, client.label
    rh_file, rh_line = cfg.where("relayhost", service)
    relayhost = client.relayhost_value()
    dests: list[Destination] = []
    try:
        dests = parse_relayhost(relayhost)
    except RelayhostError as exc:
        meant = relayhost.split("#", 1)[0].strip()
        try:
            repaired = bool(meant) and meant != relayhost and bool(parse_relayhost(meant))
        except RelayhostError:
            repaired = False
        yield make("relayhost-invalid", rh_file, rh_line, f"{label}relayhost: {exc}; smtp(8) stops with "
                   "'fatal:' on every delivery and mail stays in the queue",
                   _set_relayhost(client, meant) if repaired else "set relayhost to your provider's relay, "
                   "in brackets for no MX lookup, e.g. [smtp.example.com]:587")
    client.dests = dests
    yield from _relayhost_forms(client, relayhost, rh_file, rh_line)
    w_file, w_line = cfg.where("smtp_tls_wrappermode", service)
    smtps = [d for d in dests if implicit_tls(d)]
    if smtps:
        missing = ([] if wrapper else [("smtp_tls_wrappermode", "yes")]) + (
            [] if level in MANDATORY_TLS else [("smtp_tls_security_level", "encrypt")])
        if missing:
            yield make("relay-smtps-settings", rh_file, rh_line,
                       f"{label}relayhost {smtps[0].text} is port 465 (TLS from the first byte) but "
                       f"{' and '.join(f'{n} = {v}' for n, v in missing)} {'is' if len(missing) == 1 else 'are'} "
                       "not set: smtp(8) speaks plain SMTP to it and the delivery hangs or fails",
                       client.set(missing))
    if wrapper and (not dests or any(not implicit_tls(d) for d in dests)):
        what = (f"relayhost {next(d.text for d in dests if not implicit_tls(d))} is not port 465" if dests
                else "there is no relayhost, so it applies to every destination's port 25")
        in_entry = service is not None and "smtp_tls_wrappermode" in service.options
        if in_entry and service is not None and cfg.boolean("smtp_tls_wrappermode") is True:
            fix = fixes.postconf_set(cfg, service, [("smtp_tls_wrappermode", "no")])  # main.cf says yes too
        else:
            fix = client.remove("smtp_tls_wrappermode") if in_entry else fixes.pfedit_unset(
                cfg, ["smtp_tls_wrappermode"])
        yield make("wrappermode-starttls-port", w_file, w_line,
                   f"{label}smtp_tls_wrappermode = yes but {what}: the TLS handshake meets a plain SMTP greeting "
                   "and every delivery fails (ports 587 and 25 use STARTTLS)", fix)
    return dests


def _relayhost_forms(client: _Client, value: str, file: str, line: int | None) -> Iterator[Finding]:
    cfg, label, dests = client.cfg, client.label, client.dests
    if len(dests) > 1 and cfg.postfix_version < (3, 5):
        version = ".".join(map(str, cfg.postfix_version))
        fallback = cfg.value("smtp_fallback_relay", client.service).strip()
        assignments = [("relayhost", dests[0].text)]
        if not fallback:
            assignments.append(("smtp_fallback_relay", ", ".join(d.text for d in dests[1:])))
        yield make("relayhost-list-unsupported", file, line,
                   f"{label}relayhost lists {len(dests)} destinations; Postfix {version} reads the whole value as "
                   "one host name (lists need Postfix 3.5 or later); keep the first, and "
                   + ("make the others smtp_fallback_relay" if not fallback else
                      "add the others to smtp_fallback_relay (it is set already)"),
                   fixes.set_where(cfg, client.service, assignments))
    if len(dests) > 0 and (value.startswith(",") or value.endswith(",") or ",," in value.replace(" ", "")):
        yield make("relayhost-empty-element", file, line, f"{label}relayhost {value!r} has an empty list element "
                   "(Postfix skips it)", _set_relayhost(client, ", ".join(d.text for d in dests)))
    sasl = cfg.boolean("smtp_sasl_auth_enable", client.service) is True
    for d in dests:
        port = d.text.rpartition(":")[2]
        bracketed = f"[{d.host}]" + (f":{port}" if ":" in d.text else "")
        if d.mx_lookup and d.is_ip:
            yield make("relayhost-unbracketed-ip", file, line,
                       f"{label}relayhost {d.text}: an IP address without brackets is taken as a mail domain",
                       _set_relayhost(client, _replaced(client, d, bracketed)))
        elif d.mx_lookup and d.port != 25:
            new = _replaced(client, d, bracketed)
            auth = client.relay_auth(new) if sasl else None
            yield make("relayhost-mx-lookup", file, line,
                       f"{label}relayhost {d.text}: without brackets smtp(8) looks up the MX records of {d.host} "
                       f"and connects to the mail exchangers on port {d.port}, not to {d.host} itself"
                       + ("; the password map key must change with it" if sasl else ""),
                       auth or (_set_relayhost(client, new) if not sasl else
                                f"write relayhost as {new} and use the same key in the password map"))


def _sasl_options(client: _Client, level: str, wrapper: bool) -> Iterator[Finding]:
    cfg, service, label = client.cfg, client.service, client.label
    lists = {name: cfg.words(name, service) for name in (
        "smtp_sasl_security_options", "smtp_sasl_tls_security_options", "smtp_sasl_tls_verified_security_options")}
    for name, words in lists.items():
        bad = [w for w in words if w not in SASL_OPTIONS]
        if bad:
            file, line = cfg.where(name, service)
            kept = [w for w in words if w in SASL_OPTIONS] or ["noanonymous"]
            yield make("sasl-security-options-invalid", file, line,
                       f"{label}{name} has the unknown word {bad[0]!r}: at AUTH time smtp(8) discards the whole "
                       "setting ('bad per-session SASL security properties') and authentication fails",
                       client.set([(name, ", ".join(kept))]))
    encrypted = wrapper or level in MANDATORY_TLS
    # Mandatory TLS in main.cf applies to every destination: right with a relayhost, wrong when
    # smtp(8) logs in to whatever mail exchanger it reaches (most accept mail without TLS).
    require_tls = (client.set([("smtp_tls_security_level", "encrypt")])
                   if client.local or client.dests or not client.default_transport else None)
    policy = ("require TLS for the servers this client logs in to with smtp_tls_policy_maps entries "
              "('host encrypt'); smtp_tls_security_level = encrypt in main.cf would apply to every destination")
    if not encrypted:
        plain = lists["smtp_sasl_security_options"]
        file, line = cfg.where("smtp_tls_security_level", service)
        if "noplaintext" not in plain:
            yield make("sasl-password-cleartext", file, line,
                       f"{label}smtp_sasl_auth_enable = yes with TLS level '{level}': when STARTTLS is missing "
                       "or stripped, smtp(8) sends the password in clear text (smtp_sasl_security_options "
                       "allows PLAIN/LOGIN on unencrypted sessions)", require_tls or policy)
        else:
            yield make("sasl-tls-not-enforced", file, line,
                       f"{label}smtp_sasl_auth_enable = yes with TLS level '{level}': TLS is optional, so an "
                       "attacker who strips STARTTLS makes the login fail or fall back to a weaker mechanism",
                       require_tls or policy)
    if level == "none" and not wrapper:
        session = "smtp_sasl_security_options"  # no TLS at all
    elif level in VERIFIED_TLS:
        session = "smtp_sasl_tls_verified_security_options"
    else:
        session = "smtp_sasl_tls_security_options"
    if "noplaintext" in lists[session]:
        file, line = cfg.where(session, service)
        allow = ", ".join(w for w in lists[session] if w != "noplaintext") or "noanonymous"
        if session == "smtp_sasl_security_options":  # allow PLAIN only inside TLS, and make TLS mandatory
            fix = (client.set([("smtp_tls_security_level", "encrypt"), ("smtp_sasl_tls_security_options", allow)])
                   if require_tls else policy)
        else:
            fix = client.set([(session, allow)])
        yield make("sasl-noplaintext", file, line,
                   f"{label}{session} = {', '.join(lists[session])}: 'noplaintext' forbids PLAIN and LOGIN"
                   + (" even inside TLS" if session != "smtp_sasl_security_options" else "")
                   + ", the only mechanisms most providers offer ('SASL authentication failed; ... No worthy "
                   "mechs found')", fix)
    filt = cfg.words("smtp_sasl_mechanism_filter", service)
    valid = [w for w in filt if _mechanism_ok(w)]
    for word in filt:
        if _mechanism_ok(word):
            continue
        mech = word.lstrip("!")
        file, line = cfg.where("smtp_sasl_mechanism_filter", service)
        plugin = any(h in mech.lower() for h in _PLUGIN_HINTS)
        yield make("sasl-mechanism-filter-plugin" if plugin else "sasl-mechanism-filter-unknown", file, line,
                   f"{label}smtp_sasl_mechanism_filter: {mech!r} is "
                   + ("a SASL plugin name, not a mechanism: the filter removes every mechanism the server offers"
                      if plugin else "not a known SASL mechanism name")
                   + ("" if valid else "; with no mechanism left the filter is best removed (no filtering)"),
                   client.set([("smtp_sasl_mechanism_filter", ", ".join(valid))]) if valid
                   else client.remove("smtp_sasl_mechanism_filter"))


def _mechanism_ok(word: str) -> bool:
    mech = word.lstrip("!")
    return mech.startswith("/") or ":" in mech or mech.upper() in MECHANISMS


def _credentials(client: _Client, dest: Destination, tables: _Tables, file: str,
                 line: int | None) -> Iterator[Finding]:
    cfg, label = client.cfg, client.label
    keys = sasl_lookup_keys(dest)
    hits = {key: tables.get(key) for key in keys}
    if not any(hits.values()):
        near = sorted({k for k in tables.all_keys() if _host_of(k) == dest.host.lower()})
        hint = f" (the map has {', '.join(near)}: keys must match the relayhost exactly)" if near else ""
        by_hand = ("add an entry for it to the password map (pfedit apply relay-auth writes only main.cf's "
                   "settings, and this service has its own)")
        if dest.mx_lookup and not dest.is_ip:
            yield make("sasl-credentials-unverifiable", file, line,
                       f"{label}no password map entry for {dest.text}{hint}; smtp(8) looks up MX hosts of "
                       f"{dest.host}, and only an entry named after one of them could match",
                       client.relay_auth(_replaced(client, dest, f"[{dest.host}]:{dest.port}")) or by_hand)
        else:
            tried = " or ".join(keys)
            yield make("sasl-no-credentials", file, line,
                       f"{label}no password map entry for {tried}{hint}: smtp(8) connects without logging in "
                       "and the relay refuses the mail ('Relay access denied' / 'Authentication required')",
                       client.relay_auth(client.relayhost_value()) or by_hand)
        return
    if len(keys) == 2:
        first, second = hits[keys[0]], hits[keys[1]]
        if first is not None and second is not None and first[1] != second[1]:
            yield make("sasl-shadowed-credentials", first[0].name, first[2],
                       f"the entry for the bare host name {keys[0]} is looked up before {keys[1]} and has other "
                       f"credentials: smtp(8) logs in to {dest.text} with those", f"remove the {keys[0]} line from "
                       f"{first[0].name} (or give it the same credentials), then run: "
                       + fixes.rebuild(cfg, "postmap", f"{first[0].kind}:{first[0].name}"))
