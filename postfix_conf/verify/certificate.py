"""The relay's certificate: what it says, and whether smtp(8) would accept it at its TLS level.

Postfix decides per ``smtp_tls_security_level``:

* ``none``, ``may``, ``encrypt``: the certificate is not checked (we only report it);
* ``verify``, ``secure``: the chain must lead to a CA that Postfix trusts, and one of the
  certificate's names must match ``smtp_tls_verify_cert_match`` / ``smtp_tls_secure_cert_match``;
* ``fingerprint``: the certificate's or its public key's digest must be listed in
  ``smtp_tls_fingerprint_cert_match``;
* ``dane``, ``dane-only``: TLSA records from DNSSEC-validated DNS decide (not checked here).

What Postfix trusts (``tls_set_ca_certificate_info()``, Postfix 3.7): ``smtp_tls_CAfile``
and ``smtp_tls_CApath``; the system's default store is added **only** with
``tls_append_default_CA = yes``, and when both parameters are empty *nothing* is loaded, so
every chain fails verification (Debian's stock main.cf sets ``smtp_tls_CApath =
/etc/ssl/certs`` for that reason). ``smtp_tls_trust_anchor_file`` is loaded as one more CA
file, an approximation: Postfix also accepts a chain that ends at a non-root anchor.

Names (``tls_verify.c``): the DNS subjectAltNames, or the CommonNames when there are none;
IP address SANs are not used. ``*.example.com`` matches exactly one extra label.
"""

from __future__ import annotations

import datetime
import hashlib
import ssl
from dataclasses import dataclass, field

_CN, _O, _OU, _C = b"\x55\x04\x03", b"\x55\x04\x0a", b"\x55\x04\x0b", b"\x55\x04\x06"
_SAN = b"\x55\x1d\x11"
_ATTR_NAMES = {_CN: "CN", _O: "O", _OU: "OU", _C: "C", b"\x55\x04\x07": "L", b"\x55\x04\x08": "ST"}


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    dns_names: tuple[str, ...]
    common_names: tuple[str, ...]
    der: bytes = field(repr=False)
    spki: bytes = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """What Postfix matches against: DNS SANs, else CommonNames."""
        return self.dns_names or self.common_names

    def summary(self) -> str:
        return (f"subject {self.subject}, issuer {self.issuer}, "
                f"expires {self.not_after:%Y-%m-%d %H:%M} UTC")

    def fingerprint(self, digest: str, *, public_key: bool = False) -> str:
        data = self.spki if public_key else self.der
        return ":".join(f"{b:02X}" for b in hashlib.new(digest, data).digest())


def _tlv(data: bytes, i: int) -> tuple[int, bytes, int, int]:
    """(tag, value, start of this TLV, index after it) of the DER element at ``i``."""
    start, tag, length = i, data[i], data[i + 1]
    i += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[i:i + count], "big")
        i += count
    if i + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[i:i + length], start, i + length


def _children(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, value, whole TLV) of each element of a constructed value."""
    out, i = [], 0
    while i < len(data):
        tag, value, start, i = _tlv(data, i)
        out.append((tag, value, data[start:i]))
    return out


def _name(value: bytes) -> tuple[str, list[str]]:
    parts, cns = [], []
    for _, rdn, _ in _children(value):
        for _, atv, _ in _children(rdn):
            (_, oid, _), (_, text, _) = _children(atv)[:2]
            decoded = text.decode("utf-8", "replace")
            parts.append(f"{_ATTR_NAMES.get(oid, oid.hex())}={decoded}")
            if oid == _CN:
                cns.append(decoded)
    return ", ".join(parts), cns


def _time(tag: int, value: bytes) -> datetime.datetime:
    text = value.decode("ascii")
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC)


def parse_certificate(der: bytes) -> CertInfo:
    """Subject, issuer, validity, names and public key of an X.509 certificate (DER)."""
    cert = _tlv(der, 0)[1]  # Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    tbs = _children(_tlv(cert, 0)[1])
    if tbs[0][0] == 0xA0:  # [0] EXPLICIT version
        tbs = tbs[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, [1], [2], [3] extensions
    issuer, _ = _name(tbs[2][1])
    validity = _children(tbs[3][1])
    subject, cns = _name(tbs[4][1])
    dns: list[str] = []
    for tag, value, _ in tbs[6:]:
        if tag != 0xA3:
            continue
        for _, ext, _ in _children(_tlv(value, 0)[1]):
            parts = _children(ext)  # extnID, [critical], extnValue (OCTET STRING holding GeneralNames)
            if parts[0][1] == _SAN:
                for gtag, gval, _ in _children(_tlv(parts[-1][1], 0)[1]):
                    if gtag == 0x82:  # dNSName
                        dns.append(gval.decode("ascii", "replace"))
    return CertInfo(subject, issuer, _time(validity[0][0], validity[0][1]), _time(validity[1][0], validity[1][1]),
                    tuple(dns), tuple(cns), der, tbs[5][2])


def name_matches(cert_name: str, wanted: str) -> bool:
    """One certificate name against one wanted name; ``.domain`` wants any subdomain."""
    cert_name, wanted = cert_name.lower().rstrip("."), wanted.lower().rstrip(".")
    if wanted.startswith("."):
        base = cert_name[2:] if cert_name.startswith("*.") else cert_name
        return cert_name.endswith(wanted) or (cert_name.startswith("*.") and ("." + base).endswith(wanted))
    if cert_name.startswith("*."):
        label, _, rest = wanted.partition(".")
        return bool(label) and rest == cert_name[2:]
    return cert_name == wanted


def match_targets(strategies: list[str], hostname: str, nexthop: str) -> list[str]:
    """``hostname``/``nexthop``/``dot-nexthop`` replaced by the names they stand for."""
    out = []
    for word in strategies:
        low = word.lower()
        out.append(hostname if low == "hostname" else nexthop if low == "nexthop"
                   else "." + nexthop if low == "dot-nexthop" else word)
    return out


def matching_name(cert: CertInfo, targets: list[str]) -> str | None:
    for target in targets:
        if any(name_matches(n, target) for n in cert.names):
            return target
    return None


def fingerprint_match(cert: CertInfo, digest: str, wanted: list[str]) -> str | None:
    """The listed fingerprint that matches the certificate or its public key, or None."""
    norm = {w.replace(":", "").upper() for w in wanted}
    for public_key in (False, True):
        fp = cert.fingerprint(digest, public_key=public_key)
        if fp.replace(":", "") in norm:
            return fp
    return None


def trust_context(ca_file: str, ca_path: str, trust_anchor_file: str, append_default: bool) -> ssl.SSLContext:
    """A verifying client context that trusts what smtp(8) trusts; OSError/SSLError if unloadable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # names are matched by Postfix's rules, not Python's
    ctx.verify_mode = ssl.CERT_REQUIRED
    if ca_file or ca_path:
        ctx.load_verify_locations(cafile=ca_file or None, capath=ca_path or None)
        if append_default:
            ctx.set_default_verify_paths()
    if trust_anchor_file:
        ctx.load_verify_locations(cafile=trust_anchor_file)
    return ctx


def plain_context() -> ssl.SSLContext:
    """Encrypt without checking the certificate, as smtp(8) at ``may``/``encrypt``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
