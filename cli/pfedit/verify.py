"""``pfedit verify``: live checks against real servers (they connect to the network).

Thin on purpose: parsing, printing, exit codes. The probe lives in
:mod:`postfix_conf.verify`; it and dnspython are imported inside the command, so
``pfedit --help`` and every other command start without them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import verify_open_relay
from .common import ConfigDirOption, Exit, JsonOption, config_dir, die, print_json

if TYPE_CHECKING:
    from postfix_conf.verify.relay_probe import HostResolver, MxResolver, RelayReport

app = typer.Typer(no_args_is_help=True, help="Live checks against real servers (these connect to the network).")
app.command("open-relay")(verify_open_relay.open_relay)

NAMESERVER_ENV = "PFEDIT_NAMESERVER"
"""``HOST[:PORT]`` of the DNS server to ask instead of the ones in /etc/resolv.conf."""
_ADDRESS = re.compile(r"[^\s<>@\"]+@[^\s<>@\"]+")
_DOMAIN = re.compile(r"@[^\s<>@\"]+")


def resolvers(timeout: float) -> tuple[MxResolver, HostResolver]:
    """MX and A/AAAA lookups through dnspython, as smtp(8) does them (DNS, not /etc/hosts)."""
    import dns.exception
    import dns.resolver

    from postfix_conf.verify.relay_probe import ResolveError

    resolver = dns.resolver.Resolver(configure=NAMESERVER_ENV not in os.environ)
    if NAMESERVER_ENV in os.environ:
        host, _, port = os.environ[NAMESERVER_ENV].rpartition(":") if os.environ[NAMESERVER_ENV].count(":") == 1 \
            else (os.environ[NAMESERVER_ENV], "", "")
        resolver.nameservers = [host]
        resolver.port = int(port or 53)
    resolver.lifetime = timeout

    def query(name: str, rdtype: str) -> list[str]:
        try:
            return [r.to_text() for r in resolver.resolve(name, rdtype, search=False)]
        except (dns.resolver.NoAnswer, dns.resolver.NoNameservers) as exc:
            if isinstance(exc, dns.resolver.NoNameservers):
                raise ResolveError(f"{name}: no DNS server answered ({rdtype})") from None
            return []
        except dns.resolver.NXDOMAIN:
            raise ResolveError(f"{name}: no such domain (NXDOMAIN)") from None
        except dns.exception.Timeout:
            raise ResolveError(f"{name}: DNS timeout after {timeout:g}s") from None
        except dns.exception.DNSException as exc:
            raise ResolveError(f"{name}: {exc}") from None

    def mx(name: str) -> list[tuple[int, str]]:
        out = []
        for text in query(name, "MX"):
            pref, _, host = text.partition(" ")
            out.append((int(pref), host))
        return out

    def addresses(name: str) -> list[str]:
        return query(name, "A") + query(name, "AAAA")

    return mx, addresses


def print_report(report: RelayReport, *, err: bool = False) -> None:
    many = len({s.destination for s in report.stages if s.destination}) > 1
    for s in report.stages:
        where = f"{s.destination}: " if many and s.destination else ""
        typer.echo(f"{where}{s.name:<8} {s.status:<7} {s.detail}", err=err)
        if s.fix and s.status != "passed":
            typer.echo(f"{'':<17}fix: {s.fix}", err=err)


@app.command("relay")
def relay(
    config: ConfigDirOption = None,
    json: JsonOption = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=300.0,
                                           help="Seconds each stage may take.")] = 10.0,
    send_to: Annotated[str | None, typer.Option("--send-to", metavar="ADDRESS", show_default=False,
                                                help="Also send one short test message to ADDRESS.")] = None,
    sender: Annotated[str | None, typer.Option("--sender", metavar="ADDRESS", show_default=False,
                                               help="Verify the account of this sender (or @domain), as "
                                                    "'apply relay-auth --sender' set it up.")] = None,
) -> None:
    """Log in to the relay with the stored credentials, as smtp(8) would (sends no mail without --send-to)."""
    from postfix_conf import LookupTable, MainCf, MasterCf
    from postfix_conf.verify.client_settings import client_settings
    from postfix_conf.verify.relay_probe import verify_relay

    if send_to is not None and not _ADDRESS.fullmatch(send_to):
        die(f"--send-to: {send_to!r} is not a mail address (user@domain)", Exit.USAGE)
    if sender is not None and not (_ADDRESS.fullmatch(sender) or _DOMAIN.fullmatch(sender)):
        die(f"--sender: {sender!r} is neither a mail address (user@domain) nor a domain (@domain)", Exit.USAGE)
    cdir = config_dir(config)
    try:
        main = MainCf.read(cdir / "main.cf")
    except OSError as exc:
        die(f"{cdir / 'main.cf'}: {exc.strerror or exc} (pass --config-dir DIR)", Exit.USAGE)
    try:
        master: MasterCf | None = MasterCf.read(cdir / "master.cf")
    except OSError:
        master = None

    def read_table(path: str) -> LookupTable | None:
        try:
            return LookupTable.read(Path(path))
        except OSError:
            return None

    settings = client_settings(cdir, main, master, read_table, sender=sender)
    try:
        mx, addresses = resolvers(timeout)
    except ImportError:  # dnspython missing: bracketed relays still work
        report = verify_relay(settings, timeout=timeout, send_to=send_to)
    else:
        report = verify_relay(settings, timeout=timeout, send_to=send_to, resolve_mx=mx, resolve_host=addresses)
    if json:
        print_json(report.to_dict())
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(int(Exit.ERROR))
