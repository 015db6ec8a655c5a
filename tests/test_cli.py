"""The CLI as a thin layer: help for every command, documented options, exit codes,
no traceback and no secret on errors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import pfedit.main as cli_main
from pfedit.main import app

from .conftest import EXAMPLES, REPO

runner = CliRunner()


def commands() -> list[tuple[str, Any]]:
    """(name, command) for every leaf command; Typer's groups have a ``commands`` dict."""
    root: Any = typer.main.get_command(app)
    out: list[tuple[str, Any]] = []
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):
            out.extend((f"{name} {sub}", c) for sub, c in cmd.commands.items())
        else:
            out.append((name, cmd))
    return out


@pytest.mark.parametrize(("name", "command"), commands(), ids=[n for n, _ in commands()])
def test_every_command_has_help_and_is_documented(name: str, command: Any) -> None:
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    reference = (REPO / "docs" / "cli.md").read_text()
    assert f"`pfedit {name}" in reference
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt != "--help":
                assert f"`{opt}" in reference or f"{opt}" in reference, f"{name}: {opt} undocumented"


def copy_examples(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    shutil.copytree(EXAMPLES, d)
    return d


def test_set_get_unset_round(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    original = (d / "main.cf").read_bytes()
    result = runner.invoke(app, ["set", "-c", str(d), "relayhost=[r]:587", "mydomain=office.example"])
    assert result.exit_code == 0, result.output
    assert "set: relayhost" in result.stderr
    assert runner.invoke(app, ["get", "-c", str(d), "relayhost"]).stdout == "[r]:587\n"
    again = runner.invoke(app, ["set", "-c", str(d), "relayhost=[r]:587"])
    assert "already up to date" in again.stderr
    assert runner.invoke(app, ["unset", "-c", str(d), "relayhost"]).exit_code == 0
    assert runner.invoke(app, ["get", "-c", str(d), "relayhost"]).exit_code == 1
    # relayhost was "relayhost =" in the example: set rewrote it in place, unset removed the line
    assert (d / "main.cf").read_bytes() == original.replace(b"relayhost =\n", b"")


def test_set_dry_run_writes_nothing(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    before = (d / "main.cf").stat().st_mtime_ns
    result = runner.invoke(app, ["set", "-c", str(d), "--dry-run", "relayhost=[r]"])
    assert "+relayhost = [r]" in result.stdout
    assert (d / "main.cf").stat().st_mtime_ns == before


def test_set_refuses_bad_input_cleanly(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    before = (d / "main.cf").read_bytes()
    result = runner.invoke(app, ["set", "-c", str(d), "bad name=x"])
    assert result.exit_code == 1 and "invalid parameter name" in result.stderr
    result = runner.invoke(app, ["set", "-c", str(d), "novalue"])
    assert result.exit_code == 2
    assert (d / "main.cf").read_bytes() == before


def test_show_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", "-c", str(EXAMPLES), "--json", "myhostname"])
    data = json.loads(result.stdout)
    assert data["parameters"] == {"myhostname": "mail.office.example"}


def test_service_list_json() -> None:
    result = runner.invoke(app, ["service", "list", "-c", str(EXAMPLES), "--json"])
    services = {(s["name"], s["type"]) for s in json.loads(result.stdout)["services"]}
    assert ("smtp", "inet") in services and ("submission", "inet") not in services


def test_relay_auth_json_plan(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    result = runner.invoke(app, ["apply", "relay-auth", "-c", str(d), "--relayhost", "[m.example]:587",
                                 "--username", "u", "--password-stdin", "--dry-run", "--json"], input="pw-XYZ\n")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert "+relayhost = [m.example]:587" in plan["diff"]
    assert plan["changed"] is True
    targets = {(op["action"], op["target"]) for op in plan["operations"]}
    assert ("set", "relayhost") in targets and ("add-entry", "[m.example]:587") in targets
    assert "pw-XYZ" not in result.output


def test_crash_shows_no_traceback_and_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    secret = "crash-secret-123"

    def boom(*args: object, **kwargs: object) -> None:
        password = secret  # a local that a pretty traceback would print
        raise RuntimeError("unexpected " + password[:0])

    monkeypatch.setattr("postfix_conf.pipeline.plan", boom)
    monkeypatch.setenv("PFEDIT_RELAY_PASSWORD", secret)
    monkeypatch.delenv("PFEDIT_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["pfedit", "apply", "relay-auth", "-c", str(tmp_path),
                                      "--relayhost", "[m]:587", "--username", "u"])
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main()
    assert exit_info.value.code == 1
    out = capsys.readouterr()
    assert "internal error: RuntimeError" in out.err
    assert secret not in out.out + out.err and "Traceback" not in out.out + out.err
