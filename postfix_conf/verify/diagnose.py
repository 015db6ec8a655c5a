"""Plain-language diagnoses for what a relay answered, and the command that fixes it.

Kept apart from the probe so the wording can be reviewed (and reused by ``apply
relay-auth --verify``) without reading socket code. Every text that quotes a server reply
goes through :func:`mask` first: some servers echo what they were sent.
"""

from __future__ import annotations

import base64
import re

from .smtp_wire import Reply

MASK = "********"
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}\b")


def mask(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``********``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def secret_forms(password: str, user: str) -> list[str]:
    """The password and the encodings of it that a mechanism puts on the wire."""
    forms = [password]
    for blob in (password, f"{user}\0{user}\0{password}", f"\0{user}\0{password}"):
        forms.append(base64.b64encode(blob.encode()).decode())
    return [f for f in forms if f]


def relay_auth_command(relayhost: str, user: str | None, extra: str = "") -> str:
    """The ``pfedit apply relay-auth`` command line that rewrites the relay settings."""
    shown_user = f"'{user}'" if user else "USER"
    return (f"pfedit apply relay-auth --relayhost '{relayhost}' --username {shown_user} --password-file FILE"
            + (f" {extra}" if extra else ""))


def enhanced_code(reply: Reply) -> str:
    m = _ENHANCED.match(reply.text)
    return m.group(0) if m else ""


def auth_failure(reply: Reply, user: str, relayhost: str) -> tuple[str, str]:
    """(diagnosis, fix) for a refused AUTH."""
    text, code, status = reply.text.lower(), reply.code, enhanced_code(reply)
    again = relay_auth_command(relayhost, user)
    if code == 534 and (status == "5.7.9" or "application" in text or "app password" in text or "app-specific" in text):
        return ("the provider requires an application-specific password (an 'app password') instead of the "
                "account password", "create one in the provider's account security settings, then store it: "
                + again)
    if code == 534:
        return ("the provider refuses this way of logging in (often: sign in once through its web page, or allow "
                "'less secure'/SMTP access in the account settings)", "change the account setting, then run this "
                "check again")
    if code == 535:
        hint = ("; many providers want the full e-mail address as the user name, and the map has "
                f"'{user}'") if "@" not in user else ""
        return f"wrong user name or password{hint}", "check both with the provider, then store them: " + again
    if code == 538:
        return ("the server wants an encrypted session before AUTH", "pfedit set smtp_tls_security_level=encrypt")
    if code == 504:
        return ("the server refused the mechanism it had advertised",
                "pfedit set 'smtp_sasl_mechanism_filter=plain, login'")
    if code == 454 or code // 100 == 4:
        return ("a temporary authentication failure at the provider", "try again later; if it persists, the "
                "account may be locked (check with the provider)")
    return "the server refused the login", "check the user name, password and account status with the provider"


def sender_failure(reply: Reply, sender: str, user: str | None) -> tuple[str, str]:
    """(diagnosis, fix) for a refused MAIL FROM."""
    account = f" ({user})" if user else ""
    if reply.code in (550, 553, 554) or reply.code // 100 == 5:
        return (f"the provider refuses the envelope sender {sender}: most providers accept only addresses of the "
                f"authenticated account{account}",
                f"rewrite local senders to the account's address with smtp_generic_maps, e.g. a line "
                f"'{sender} {user or 'you@provider.example'}' in /etc/postfix/generic and "
                "pfedit set smtp_generic_maps=hash:/etc/postfix/generic (then postmap it)")
    return f"the provider did not accept the sender {sender} for now", "try again later"


def recipient_failure(reply: Reply, recipient: str) -> tuple[str, str]:
    if reply.code == 530 or enhanced_code(reply).startswith("5.7.0"):
        return (f"the relay refuses {recipient} without a login: smtp(8) was not authenticated",
                "enable SMTP AUTH: " + relay_auth_command("[RELAY]:587", None))
    if reply.code // 100 == 5:
        return f"the relay refuses the recipient {recipient}", "check the address passed to --send-to"
    return f"the relay did not accept {recipient} for now", "try again later"


def no_auth_offered(tls_active: bool, level: str, port: int) -> tuple[str, str]:
    if not tls_active and level in ("none", "may"):
        return ("the server offers no AUTH on an unencrypted session (most providers offer it only after "
                "STARTTLS)", "pfedit set smtp_tls_security_level=encrypt")
    if port == 25:
        return ("the server offers no SMTP AUTH on port 25 (it is for server-to-server mail)",
                "use the provider's submission port: 587 (STARTTLS) or 465 (implicit TLS)")
    return "the server offers no SMTP AUTH on this port", "check the provider's submission host and port"
