"""Would smtp(8) accept this certificate at its ``smtp_tls_security_level``? (see :mod:`.certificate`)

Chain trust is decided during the handshake (a verifying context at ``verify``/``secure``);
this module adds what comes after it: the name match, the fingerprint match, and the
honest answer for DANE, which needs DNSSEC-validated TLSA records that are not looked up.
"""

from __future__ import annotations

from dataclasses import dataclass

from .certificate import CertInfo, fingerprint_match, match_targets, matching_name


@dataclass(frozen=True)
class Verdict:
    ok: bool
    verified: bool  # the peer counts as verified (smtp_sasl_tls_verified_security_options apply)
    detail: str  # appended to the tls line when ok, the failure text otherwise
    fix: str = ""  # may contain "{relay}": a relay-auth command naming a host the certificate has


def check_level(cert: CertInfo | None, level: str, *, host: str, nexthop: str, verify_match: list[str],
                secure_match: list[str], digest: str, fingerprints: list[str]) -> Verdict:
    if level in ("verify", "secure") and cert is not None:
        strategies = verify_match if level == "verify" else secure_match
        targets = match_targets(strategies, host, nexthop)
        matched = matching_name(cert, targets)
        if matched is None:
            return Verdict(False, False, f"the certificate ({cert.summary()}) has the names "
                           f"{', '.join(cert.names) or 'none'}, none matches {', '.join(targets)} "
                           f"(smtp_tls_{level}_cert_match = {', '.join(strategies)})",
                           "connect by a name the certificate has: {relay}")
        return Verdict(True, True, f"; verified (chain trusted, name {matched} matches)")
    if level == "fingerprint" and cert is not None:
        found = fingerprint_match(cert, digest, fingerprints)
        if found is None:
            fp = cert.fingerprint(digest)
            return Verdict(False, False, f"no listed {digest} fingerprint matches the certificate (certificate "
                           f"{fp}, public key {cert.fingerprint(digest, public_key=True)})",
                           f"if you trust this server: pfedit set smtp_tls_fingerprint_cert_match={fp}")
        return Verdict(True, True, f"; fingerprint {found} matches")
    if level in ("dane", "dane-only"):
        return Verdict(True, False, "; not verified: DANE needs DNSSEC-validated TLSA records, which this check "
                       "does not look up" + (" (smtp(8) delivers only if they exist and match)"
                                             if level == "dane-only" else
                                             " (without them smtp(8) falls back to unauthenticated TLS)"))
    return Verdict(True, False, f"; not verified (level {level} does not check certificates)")
