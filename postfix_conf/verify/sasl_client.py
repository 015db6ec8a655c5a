"""SASL as smtp(8) does it: which mechanism Cyrus SASL picks, and the mechanisms themselves.

smtp(8) authenticates through the Cyrus SASL library (``smtp_sasl_type = cyrus``). Which
mechanism is used depends on four things, and each can make a working password fail:

1. the server's ``AUTH`` list, filtered by ``smtp_sasl_mechanism_filter``
   (``smtp_sasl_compat_mechs()``; an empty result means smtp(8) does not log in at all);
2. the client plugins installed on this machine (Debian: ``libsasl2-modules``; without it
   only EXTERNAL is built in, and Cyrus says "No worthy mechs found");
3. the security options in force for the session (``noplaintext`` removes PLAIN/LOGIN);
4. Cyrus's choice among what is left (``sasl_client_start()`` in lib/client.c): the first
   acceptable mechanism in the *server's* order, replaced by a later one only if that has a
   higher maximum SSF and no weaker security flags. So DIGEST-MD5 beats PLAIN whenever
   both are offered, which is why providers with a broken DIGEST-MD5 need the filter.

Plugin properties were read with ``saslpluginviewer -c`` (Cyrus SASL 2.1.28) where the
plugin is installed here, from the plugin sources otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sysconfig
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

PLUGIN_DIRS_ENV = "PFEDIT_SASL_PLUGIN_DIRS"
"""Colon-separated directories to search for Cyrus client plugins instead of the defaults."""

NOPLAINTEXT, NOACTIVE, NODICTIONARY, FORWARD_SECRECY, NOANONYMOUS, PASS_CREDENTIALS, MUTUAL_AUTH = (
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40)
OPTION_FLAGS = {"noplaintext": NOPLAINTEXT, "noactive": NOACTIVE, "nodictionary": NODICTIONARY,
                "noanonymous": NOANONYMOUS, "mutual_auth": MUTUAL_AUTH, "mutual-auth": MUTUAL_AUTH,
                "forward_secrecy": FORWARD_SECRECY, "forward-secrecy": FORWARD_SECRECY}
"""``xsasl_cyrus_client_set_security()``: security option words -> Cyrus ``SASL_SEC_*`` flags."""


@dataclass(frozen=True)
class MechInfo:
    name: str
    max_ssf: int
    flags: int
    plugin: str  # the plugin file stem (libNAME.so); "" when built into libsasl2


_SCRAM = NOANONYMOUS | NOPLAINTEXT | NOACTIVE | MUTUAL_AUTH
MECHANISMS: dict[str, MechInfo] = {m.name: m for m in (
    MechInfo("PLAIN", 0, NOANONYMOUS | PASS_CREDENTIALS, "plain"),
    MechInfo("LOGIN", 0, NOANONYMOUS | PASS_CREDENTIALS, "login"),
    MechInfo("CRAM-MD5", 0, NOANONYMOUS | NOPLAINTEXT, "crammd5"),
    MechInfo("DIGEST-MD5", 128, NOANONYMOUS | NOPLAINTEXT | MUTUAL_AUTH, "digestmd5"),
    MechInfo("NTLM", 0, NOANONYMOUS | NOPLAINTEXT, "ntlm"),
    MechInfo("ANONYMOUS", 0, NOPLAINTEXT, "anonymous"),
    MechInfo("EXTERNAL", 0, NOANONYMOUS | NOPLAINTEXT | NODICTIONARY, ""),
    *(MechInfo(f"SCRAM-SHA-{n}", 0, _SCRAM, "scram") for n in ("1", "224", "256", "384", "512")),
    MechInfo("OTP", 0, NOANONYMOUS | NOPLAINTEXT | FORWARD_SECRECY, "otp"),
    MechInfo("GSSAPI", 256, NOANONYMOUS | NOPLAINTEXT | NOACTIVE | MUTUAL_AUTH | PASS_CREDENTIALS, "gssapiv2"),
    MechInfo("GS2-KRB5", 0, NOANONYMOUS | NOPLAINTEXT | NOACTIVE | MUTUAL_AUTH | PASS_CREDENTIALS, "gs2"),
    MechInfo("SRP", 256, NOANONYMOUS | NOPLAINTEXT | NOACTIVE | NODICTIONARY | FORWARD_SECRECY | MUTUAL_AUTH,
             "srp"),
    MechInfo("XOAUTH2", 0, NOANONYMOUS, "xoauth2"),
)}
SUPPORTED = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-224",
                       "SCRAM-SHA-256", "SCRAM-SHA-384", "SCRAM-SHA-512"})
"""Mechanisms this probe can speak (standard library only)."""
CLEARTEXT = frozenset({"PLAIN", "LOGIN"})


def default_plugin_dirs() -> list[Path]:
    """Where Cyrus looks for plugins on common systems (Debian's multiarch directory first)."""
    env = os.environ.get(PLUGIN_DIRS_ENV)
    if env is not None:
        return [Path(p) for p in env.split(":") if p]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    dirs = [f"/usr/lib/{multiarch}/sasl2"] if multiarch else []
    dirs += ["/usr/lib/sasl2", "/usr/lib64/sasl2", "/usr/local/lib/sasl2"]
    return [Path(d) for d in dirs]


def installed_mechanisms(dirs: list[Path]) -> set[str]:
    """Client mechanisms the plugins in ``dirs`` provide, plus EXTERNAL (built into libsasl2)."""
    stems = set()
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if name.startswith("lib") and ".so" in name:
                stems.add(name[3:name.index(".so")])
    return {m.name for m in MECHANISMS.values() if m.plugin == "" or m.plugin in stems}


def security_flags(options: list[str]) -> int:
    out = 0
    for word in options:
        out |= OPTION_FLAGS.get(word.lower(), 0)
    return out


def filter_mechanisms(offered: list[str], patterns: list[str]) -> list[str]:
    """``smtp_sasl_compat_mechs()``: the offered names the filter lets through (all without one).

    Patterns match case-insensitively; a leading ``!`` negates, and the first matching
    pattern decides (``match_list``). File and table patterns are not evaluated.
    """
    if not patterns:
        return list(offered)
    out = []
    for mech in offered:
        for pattern in patterns:
            negated = False
            while pattern.startswith("!"):
                negated, pattern = not negated, pattern[1:]
            if pattern.lower() == mech.lower():
                if not negated:
                    out.append(mech)
                break
    return out


def cyrus_choice(offered: list[str], installed: set[str], required: int) -> str | None:
    """The mechanism ``sasl_client_start()`` picks from the (filtered) server list, or None.

    Cyrus skips ``-PLUS`` names (smtp(8) gives it no channel binding data) and mechanisms
    without a plugin or whose flags lack a required one; it keeps the first acceptable
    name and replaces it only by one with a higher max SSF and no weaker flags.
    """
    best: MechInfo | None = None
    for name in offered:
        info = MECHANISMS.get(name.upper())
        if info is None or info.name not in installed or required & ~info.flags:
            continue
        if best is not None and (info.flags ^ best.flags) & best.flags & ~PASS_CREDENTIALS:
            continue  # _sasl_are_current_security_flags_worse_then_best()
        if best is not None and info.max_ssf <= best.max_ssf:
            continue
        best = info
    return None if best is None else best.name


# -- the mechanisms ------------------------------------------------------------------
Exchange = Generator[bytes, bytes, None]
"""A client conversation: yields each response, receives the server's next challenge."""


def plain(user: str, password: str) -> Exchange:
    """authzid = authcid, as Cyrus sends it (smtp(8) gives the same name to both callbacks)."""
    yield f"{user}\0{user}\0{password}".encode()


def login(user: str, password: str) -> Exchange:
    yield b""  # no initial response: the server asks for the user name first
    yield user.encode()
    yield password.encode()


def cram_md5(user: str, password: str) -> Exchange:
    challenge = yield b""
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    yield f"{user} {digest}".encode()


def _digest_fields(challenge: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    text, i = challenge.decode("utf-8", "replace"), 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            break
        key, i = text[i:eq].strip(" ,").lower(), eq + 1
        if text[i:i + 1] == '"':
            end, value = i + 1, []
            while end < len(text) and text[end] != '"':
                if text[end] == "\\":
                    end += 1
                value.append(text[end:end + 1])
                end += 1
            out.setdefault(key, "".join(value))
            i = end + 1
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            out.setdefault(key, text[i:end].strip())
            i = end
        i += 1 if text[i:i + 1] == "," else 0
    return out


def digest_md5(user: str, password: str, service_host: str, cnonce: str | None = None,
               service: str = "smtp") -> Exchange:
    """RFC 2831 with ``qop=auth`` (smtp(8) asks for no security layer)."""
    challenge = yield b""
    fields = _digest_fields(challenge)
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    cnonce = cnonce or base64.b64encode(secrets.token_bytes(16)).decode()
    uri = f"{service}/{service_host}"
    a1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).digest() + f":{nonce}:{cnonce}".encode()
    ha1 = hashlib.md5(a1).hexdigest()
    ha2 = hashlib.md5(f"AUTHENTICATE:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    charset = ",charset=utf-8" if fields.get("charset") else ""
    realm_part = f'realm="{realm}",' if realm else ""
    yield (f'username="{user}",{realm_part}nonce="{nonce}",cnonce="{cnonce}",nc=00000001,qop=auth,'
           f'digest-uri="{uri}",response={response}{charset}').encode()
    yield b""  # acknowledges rspauth


def scram(hash_name: str, user: str, password: str, cnonce: str | None = None) -> Exchange:
    """RFC 5802/7677 without channel binding (gs2 header ``n,,``)."""
    name = user.replace("=", "=3D").replace(",", "=2C")
    cnonce = cnonce or base64.b64encode(secrets.token_bytes(18)).decode()
    bare = f"n={name},r={cnonce}"
    server_first = (yield ("n,," + bare).encode()).decode("utf-8", "replace")
    attrs = dict(item.split("=", 1) for item in server_first.split(",") if "=" in item)
    nonce = attrs.get("r", "")
    if not nonce.startswith(cnonce):
        raise ValueError("SCRAM: the server's nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), base64.b64decode(attrs.get("s", "")),
                                 int(attrs.get("i", "4096")))
    digest: Callable[[bytes, bytes], bytes] = lambda key, msg: hmac.new(key, msg, hash_name).digest()  # noqa: E731
    client_key = digest(salted, b"Client Key")
    without_proof = f"c={base64.b64encode(b'n,,').decode()},r={nonce}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = digest(hashlib.new(hash_name, client_key).digest(), auth_message)
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
    final = (yield f"{without_proof},p={proof}".encode()).decode("utf-8", "replace")
    expected = base64.b64encode(digest(digest(salted, b"Server Key"), auth_message)).decode()
    if final and final != f"v={expected}":
        raise ValueError("SCRAM: the server's signature is wrong (it does not know this password)")
    yield b""


def conversation(mechanism: str, user: str, password: str, server_host: str) -> Exchange:
    """The exchange for one of :data:`SUPPORTED`."""
    if mechanism == "PLAIN":
        return plain(user, password)
    if mechanism == "LOGIN":
        return login(user, password)
    if mechanism == "CRAM-MD5":
        return cram_md5(user, password)
    if mechanism == "DIGEST-MD5":
        return digest_md5(user, password, server_host)
    if mechanism.startswith("SCRAM-SHA-"):
        return scram("sha" + mechanism.removeprefix("SCRAM-SHA-"), user, password)
    raise ValueError(f"unsupported mechanism {mechanism}")
