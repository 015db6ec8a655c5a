"""``pfedit service list``: master.cf services as Postfix reads them."""

from __future__ import annotations

import typer

from .common import ConfigDirOption, Exit, JsonOption, config_dir, die, print_json

app = typer.Typer(no_args_is_help=True, help="Inspect master.cf services.")


@app.command("list")
def list_services(config: ConfigDirOption = None, json: JsonOption = False) -> None:
    """List the active services: name/type, fields, and -o options (exit 1 if an entry is broken)."""
    from postfix_conf.master_cf import MasterCf
    path = config_dir(config) / "master.cf"
    try:
        doc = MasterCf.read(path)
    except OSError as exc:
        die(f"{path}: {exc.strerror or exc}")
    services = doc.services()
    if json:
        print_json({"services": [{"name": s.name, "type": s.type, "line": s.line, "fields": s.fields,
                                  "options": dict(s.options)} for s in services],
                    "diagnostics": [{k: getattr(d, k) for k in ("line", "severity", "code", "message")}
                                    for d in doc.diagnostics]})
    else:
        for s in services:
            f = s.fields
            typer.echo(f"{s.name}/{s.type}  {f['private']} {f['unprivileged']} {f['chroot']} {f['wakeup']} "
                       f"{f['process_limit']}  {s.command_line}")
    for d in doc.diagnostics:
        if d.severity != "info":
            typer.echo(f"{path}, line {d.line}: {d.severity}: {d.message}", err=True)
    if any(d.severity == "error" for d in doc.diagnostics):
        # An entry Postfix refuses (postconf -M stops with "bad field count"...) is not in the
        # list: a script must not take the list for the whole file.
        raise typer.Exit(int(Exit.ERROR))
