"""Say it at the moment of the mistake, in output scripts and eyes can rely on (issue 11 C, D).

Through the ``pfedit`` command: ``set`` warns about what ``check`` would report (and
``--strict`` refuses), ``apply relay-auth`` warns about an unbracketed relayhost, two
password sources are a usage error, an unknown option is answered with the command's
real options, help shows Postfix's brackets verbatim at 80 columns, ``service list``
fails on an entry Postfix refuses, and every ``--json`` is valid UTF-8.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pfedit.main import app

from .conftest import EXAMPLES, make_config_dir, need_postfix, run_postfix_tool
from .test_cli import commands

runner = CliRunner()
PASSWORD = "Msg-Secret-77"


def copy_examples(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    shutil.copytree(EXAMPLES, d)
    return d


def pfedit(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("MAIL_CONFIG", "PFEDIT_RELAY_PASSWORD")}
    full["PATH"] = f"/usr/sbin:/sbin:{full.get('PATH', '')}"
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "pfedit", *args], input=input, capture_output=True, text=True,
                          env=full, timeout=120)


# -- C: set warns (check's validators), --strict refuses ------------------------------------------------

def test_set_warns_about_a_relayhost_smtp_cannot_parse(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    proc = pfedit("set", "-c", str(d), "relayhost=[msa.example.jp")
    assert proc.returncode == 0  # a warning: the write happens, as asked
    assert 'missing "]" in server description: [msa.example.jp' in proc.stderr  # smtp(8)'s own words (spec 8.1)
    assert "[relayhost-invalid]" in proc.stderr
    assert "relayhost = [msa.example.jp\n" in (d / "main.cf").read_text()


def test_set_warns_about_a_misspelled_name_with_the_near_miss(postconf: str, tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    proc = pfedit("set", "-c", str(d), "relayhsot=[msa.example.jp]:587")
    assert proc.returncode == 0
    assert "Postfix ignores 'relayhsot'" in proc.stderr and "did you mean relayhost?" in proc.stderr
    assert f'fix: pfedit set -c {d} relayhost="$(pfedit get -c {d} relayhsot)"' in proc.stderr
    oracle = run_postfix_tool([postconf, "-c", str(d), "-n"])  # Postfix agrees that the name is unused
    assert "unused parameter: relayhsot=[msa.example.jp]:587" in oracle.stderr.decode()


def test_set_warns_about_an_mx_relayhost_with_the_bracketed_form(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    proc = pfedit("set", "-c", str(d), "relayhost=msa.example.jp:587")
    assert proc.returncode == 0 and "[relayhost-mx-lookup]" in proc.stderr
    assert f"fix: pfedit set -c {d} 'relayhost=[msa.example.jp]:587'" in proc.stderr


def test_set_of_good_values_says_nothing_more(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    result = runner.invoke(app, ["set", "-c", str(d), "relayhost=[msa.example.jp]:587", "biff=yes"])
    assert result.exit_code == 0 and result.stderr == "set: relayhost, biff\n"


@pytest.mark.parametrize("assignment", ["relayhost=[msa.example.jp", "relayhsot=x", "biff=perhaps",
                                        "smtp_tls_security_level=bogus"])
def test_set_strict_refuses_and_writes_nothing(tmp_path: Path, assignment: str) -> None:
    d = copy_examples(tmp_path)
    before = (d / "main.cf").read_bytes()
    result = runner.invoke(app, ["set", "-c", str(d), "--strict", assignment])
    assert result.exit_code == 1, result.output
    assert "nothing written" in result.stderr and "(--strict)" in result.stderr
    assert (d / "main.cf").read_bytes() == before
    assert runner.invoke(app, ["set", "-c", str(d), "--strict", "relayhost=[msa.example.jp]:587"]).exit_code == 0


# -- C: apply relay-auth warns about an MX relayhost; one password source --------------------------------

def test_relay_auth_warns_about_an_unbracketed_relayhost(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    args = ["apply", "relay-auth", "-c", str(d), "--username", "u", "--password-stdin", "--dry-run"]
    result = runner.invoke(app, [*args, "--relayhost", "msa.example.jp:587"], input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    warning = [ln for ln in result.stderr.splitlines() if ln.startswith("pfedit: warning: ")]
    assert len(warning) == 1 and "looks up MX records of msa.example.jp" in warning[0]
    assert "write [msa.example.jp]:587" in warning[0]
    quiet = runner.invoke(app, [*args, "--relayhost", "[msa.example.jp]:587"], input=f"{PASSWORD}\n")
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
    smtps = runner.invoke(app, [*args, "--relayhost", "[msa.example.jp]:465"], input=f"{PASSWORD}\n")
    assert "warning" not in smtps.stderr  # the recipe sets wrapper mode itself


@pytest.mark.parametrize("sources", [("file", "stdin"), ("file", "env"), ("stdin", "env")])
def test_two_password_sources_are_a_usage_error(tmp_path: Path, sources: tuple[str, str]) -> None:
    d = copy_examples(tmp_path)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    password_file = tmp_path / "pw"
    password_file.write_text(f"{PASSWORD}\n")
    args = ["apply", "relay-auth", "-c", str(d), "--relayhost", "[msa.example.jp]:587", "--username", "u"]
    if "file" in sources:
        args += ["--password-file", str(password_file)]
    if "stdin" in sources:
        args += ["--password-stdin"]
    env = {"PFEDIT_RELAY_PASSWORD": "other-" + PASSWORD} if "env" in sources else {}
    proc = pfedit(*args, input=f"{PASSWORD}\n", env=env)
    assert proc.returncode == 2, proc.stderr
    assert "both give the password: use one" in proc.stderr and PASSWORD not in proc.stdout + proc.stderr
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


# -- C: an unknown option is answered with the real ones -------------------------------------------------

def long_options(command: Any) -> set[str]:
    return {o for p in command.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]
            if o.startswith("--")}


def test_set_check_lists_the_real_options() -> None:
    result = runner.invoke(app, ["set", "--check", "relayhost=x"])
    assert result.exit_code == 2
    assert "No such option: --check" in result.stderr
    assert all(o in result.stderr for o in ("--dry-run", "--diff", "--backup", "--config-dir", "--strict"))
    assert "Possible options: --help" not in result.stderr


@pytest.mark.parametrize(("name", "command"), commands(), ids=[n for n, _ in commands()])
def test_every_command_answers_an_unknown_option_with_its_options(name: str, command: Any) -> None:
    result = runner.invoke(app, [*name.split(), "--no-such-option"])
    assert result.exit_code == 2
    assert "No such option: --no-such-option" in result.stderr
    missing = [o for o in long_options(command) if o not in result.stderr]
    assert missing == [], result.stderr


def test_a_near_miss_is_named() -> None:
    result = runner.invoke(app, ["apply", "relay-auth", "--relay-host", "[m]:587"])
    assert result.exit_code == 2 and "did you mean --relayhost?" in result.stderr


# -- D: help and errors show Postfix's brackets verbatim, readable at 80 columns ------------------------

BRACKETED = re.compile(r"\[[^\]\s]+\][^\s,'\")]*")


def help_sources(command: Any) -> str:
    texts = [command.help or ""]
    texts += [getattr(p, "help", None) or "" for p in command.params]
    return "\n".join(texts)


def all_commands() -> list[tuple[str, Any]]:
    import typer

    root: Any = typer.main.get_command(app)
    groups = [(name, cmd) for name, cmd in root.commands.items() if hasattr(cmd, "commands")]
    return [("", root), *groups, *commands()]


@pytest.mark.parametrize(("name", "command"), all_commands(), ids=[n or "pfedit" for n, _ in all_commands()])
def test_help_shows_brackets_verbatim_at_80_columns(name: str, command: Any) -> None:
    result = runner.invoke(app, [*name.split(), "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    for example in BRACKETED.findall(help_sources(command)):
        assert example in result.stdout, (example, result.stdout)
    long = [ln for ln in result.stdout.splitlines() if len(ln) > 80]
    assert long == [] and "…" not in result.stdout and "│" not in result.stdout, result.stdout


def test_the_relayhost_example_is_in_the_help() -> None:
    """The issue's case: Rich markup rendered this as e.g. ':587'."""
    result = runner.invoke(app, ["apply", "relay-auth", "--help"], env={"COLUMNS": "80"})
    assert "'[msa.example.jp]:587'" in result.stdout


# -- D: service list fails on an entry Postfix refuses ---------------------------------------------------

def test_service_list_exits_1_on_an_entry_postconf_refuses(postconf: str, tmp_path: Path) -> None:
    master = b"smtp      inet  n       -       y       -       smtpd\npickup    unix  n       -       y       60" \
             b"      1       pickup\n"
    d = make_config_dir(tmp_path / "etc", b"compatibility_level = 3.6\n", master)
    refused = run_postfix_tool([postconf, "-c", str(d), "-M"])
    assert refused.returncode != 0 and b"bad field count" in refused.stderr  # the oracle refuses the file
    proc = pfedit("service", "list", "-c", str(d))
    assert proc.returncode == 1
    assert proc.stdout.startswith("pickup/unix ")  # what can be read is still listed
    assert f"{d}/master.cf, line 1: error: bad field count" in proc.stderr
    data = json.loads(pfedit("service", "list", "-c", str(d), "--json").stdout)
    assert [s["name"] for s in data["services"]] == ["pickup"]
    assert [(x["line"], x["code"]) for x in data["diagnostics"]] == [(1, "bad-field-count")]
    ok = make_config_dir(tmp_path / "ok", b"", master.replace(b"smtpd\n", b"-       smtpd\n"))
    assert run_postfix_tool([postconf, "-c", str(ok), "-M"]).returncode == 0
    assert pfedit("service", "list", "-c", str(ok)).returncode == 0


# -- D: --json is valid UTF-8 with a non-UTF-8 byte in the files ----------------------------------------

@pytest.mark.parametrize("command", [["show"], ["service", "list"], ["check"]])
def test_json_is_valid_utf8(tmp_path: Path, command: list[str]) -> None:
    need_postfix()
    d = make_config_dir(tmp_path / "etc", b"biff = caf\xe9\nmyhostname = h.example\n# Latin-1 \xe9\n",
                        b"smtp inet n - n - - smtpd -o syslog_name=caf\xe9\n")
    proc = subprocess.run([sys.executable, "-m", "pfedit", *command, "-c", str(d), "--json"], capture_output=True,
                          timeout=120)
    text = proc.stdout.decode("utf-8")  # strict: raises on an invalid byte
    json.loads(text)
    assert r'caf\\xe9' in text  # the byte as the four characters \xe9 (docs/cli.md)


# -- the command line as the user runs it: one command is built per run, the rest still answer ----------

def test_the_top_level_help_lists_every_command() -> None:
    proc = pfedit("--help")
    assert proc.returncode == 0
    for name in ("show", "get", "set", "unset", "check", "apply", "service", "verify"):
        assert f"\n  {name} " in proc.stdout, name


def test_a_command_runs_and_answers_help_when_only_it_is_built(tmp_path: Path) -> None:
    d = copy_examples(tmp_path)
    proc = pfedit("get", "-c", str(d), "relayhost")
    assert (proc.returncode, proc.stderr) == (0, "")
    helped = pfedit("verify", "--help")
    assert helped.returncode == 0 and "relay" in helped.stdout
    assert pfedit("--version").stdout.startswith("pfedit ")


def test_an_unknown_command_is_named_with_the_usage() -> None:
    proc = pfedit("frobnicate")
    assert proc.returncode == 2
    assert "No such command 'frobnicate'" in proc.stderr and "Traceback" not in proc.stderr
