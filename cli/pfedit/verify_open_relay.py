"""``pfedit verify open-relay``: can a stranger relay through this configuration? Asked of the real smtpd."""

from __future__ import annotations

import typer

from .common import ConfigDirOption, Exit, JsonOption, config_dir, die, print_json


def _line(label: str, text: str) -> None:
    typer.echo(f"    {label}: {text}")


def open_relay(config: ConfigDirOption = None, json: JsonOption = False) -> None:
    """Run the real smtpd on a throw-away copy of the configuration and try to relay as a stranger.

    Every smtpd of master.cf (port 25, submission, smtps, custom ports, the one behind
    postscreen) is started on a private loopback port, in a private network namespace,
    and asked to relay from 203.0.113.0/24 in every address form open-relay scanners
    use. Needs root. Exit 0: no service relays; 1: one does, or the probe could not run.
    """
    from postfix_conf.verify.instance import InstanceError, Interrupted
    from postfix_conf.verify.open_relay import verify_open_relay

    cdir = config_dir(config)
    try:
        report = verify_open_relay(cdir)
    except InstanceError as exc:
        die(f"verify open-relay: {exc}")
    except (KeyboardInterrupt, Interrupted) as exc:
        why = str(exc) or "SIGINT"
        die(f"verify open-relay: interrupted ({why}); the throw-away instance was stopped and removed")
    if json:
        print_json(report.to_json())
    else:
        for s in report.services:
            where = f" ({s.endpoint.via})" if s.endpoint.via else ""
            reach = "" if s.endpoint.exposed else " [listens on loopback only: strangers cannot reach it]"
            typer.echo(f"{s.label}{where}: {s.verdict.upper() if s.verdict == 'open' else s.verdict}{reach}")
            _line("result", s.summary)
            forms = list(dict.fromkeys(a.form for a in s.attempts("relayed", "deferred-dns")))
            if len(forms) > 1:
                _line("address forms relayed", ", ".join(forms))
            auth = s.probe.auth_before_tls
            if auth is not None:
                mechs = " ".join(s.probe.auth_mechanisms)
                _line("AUTH before STARTTLS", f"yes ({mechs})" if auth and mechs else "yes" if auth else "no")
            for f in s.findings:
                _line("pfedit check", str(f))
            if s.verdict == "open" and s.finding("open-relay", "open-relay-conditional") is None:
                _line("pfedit check", "no finding explains this: the static check disagrees (please report)")
        for note in report.adjustments:
            typer.echo(f"note: {note}")
        for pid, comm in report.leftovers:
            typer.echo(f"pfedit: warning: process {pid} ({comm}) of the throw-away instance survived", err=True)
        names = ", ".join(s.label for s in report.open)
        verdict = (f"{names} relay{'s' if len(report.open) == 1 else ''} mail for strangers" if report.open
                   else f"could not decide for {', '.join(s.label for s in report.undecided)}" if report.undecided
                   else "no service relays mail for strangers")
        typer.echo(f"pfedit verify open-relay: {verdict} ({cdir}, {len(report.services)} smtpd services, "
                   f"{report.seconds:.1f}s)", err=True)
    if report.exit_code:
        raise typer.Exit(int(Exit.ERROR))
