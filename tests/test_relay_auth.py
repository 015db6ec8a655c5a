"""``pfedit apply relay-auth`` end to end on real files, checked with real postconf/postmap.

Expected values are what the issue asks Postfix to see after the run (read back with
``postconf -c DIR`` and ``postmap -q``), and the untouched parameters' values as
postconf printed them *before* the run.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pfedit.main import app

from .conftest import (
    EXAMPLES,
    POSTCONF,
    POSTMAP,
    backdate,
    corpus_files,
    need_corpus,
    need_postfix,
    run_postfix_tool,
)
from .postconf_util import postconf_n

PASSWORD = "s3cr3t-Pa55:with#odd chars"
RELAY = "[msa.example.jp]:587"
EXPECTED_MAIN = {
    "relayhost": RELAY,
    "smtp_sasl_auth_enable": "yes",
    "smtp_sasl_security_options": "noanonymous",
    "smtp_sasl_tls_security_options": "noanonymous",
    "smtp_tls_security_level": "encrypt",
}
SUBMISSION = {
    "syslog_name": "postfix/submission",
    "smtpd_tls_security_level": "encrypt",
    "smtpd_sasl_auth_enable": "yes",
    "smtpd_tls_auth_only": "yes",
    "smtpd_client_restrictions": "permit_sasl_authenticated,reject",
    "smtpd_relay_restrictions": "permit_sasl_authenticated,reject",
    "milter_macro_daemon_name": "ORIGINATING",
}


def make_dir(tmp_path: Path, main: bytes, master: bytes) -> Path:
    d = tmp_path / "etc"
    d.mkdir()
    (d / "main.cf").write_bytes(main)
    (d / "master.cf").write_bytes(master)
    backdate(d / "main.cf")
    return d


def run(d: Path, *extra: str, relay: str = RELAY) -> subprocess.CompletedProcess[str]:
    """The real console entry point as a subprocess; the password comes from a file."""
    pw = d.parent / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    env = dict(os.environ)
    env.pop("PFEDIT_RELAY_PASSWORD", None)
    proc = subprocess.run([sys.executable, "-m", "pfedit", "apply", "relay-auth", "--config-dir", str(d),
                           "--relayhost", relay, "--username", "user@example.jp", "--password-file", str(pw),
                           *extra], capture_output=True, text=True, env=env, timeout=120)
    assert PASSWORD not in proc.stdout + proc.stderr
    assert "s3cr3t" not in proc.stdout + proc.stderr
    return proc


def run_inprocess(d: Path, *extra: str, relay: str = RELAY) -> tuple[int, str, str]:
    """The same command through Typer's CliRunner (fast enough for the whole corpus)."""
    args = ["apply", "relay-auth", "--config-dir", str(d), "--relayhost", relay, "--username",
            "user@example.jp", "--password-stdin", *extra]
    result = CliRunner().invoke(app, args, input=PASSWORD + "\n")
    assert PASSWORD not in result.output and "s3cr3t" not in result.output
    return result.exit_code, result.stdout, result.stderr


def postconf_P(d: Path) -> dict[str, str]:
    assert POSTCONF is not None
    out = run_postfix_tool([POSTCONF, "-c", str(d), "-P"]).stdout.decode()
    return dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)


def postmap_q(d: Path, key: str, map_type: str = "hash") -> str | None:
    assert POSTMAP is not None
    proc = run_postfix_tool([POSTMAP, "-c", str(d), "-q", key, f"{map_type}:{d / 'sasl_passwd'}"])
    return proc.stdout.decode().rstrip("\n") if proc.returncode == 0 else None


def postmap_q_texthash(d: Path, key: str) -> str | None:
    """postmap -q through texthash (reads the source itself, no compiled map needed), with a
    neutral config dir: a corpus main.cf may name host files (/etc/mailname) postmap would read."""
    assert POSTMAP is not None
    neutral = d.parent / "neutral"
    if not neutral.exists():
        neutral.mkdir()
        (neutral / "main.cf").write_bytes(b"")
        (neutral / "master.cf").write_bytes(b"")
        backdate(neutral / "main.cf")
    backdate(d / "sasl_passwd")  # texthash re-reads a source written within the last second
    proc = run_postfix_tool([POSTMAP, "-c", str(neutral), "-q", key, f"texthash:{d / 'sasl_passwd'}"])
    return proc.stdout.decode().rstrip("\n") if proc.returncode == 0 else None


def mtimes(d: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in d.iterdir()}


def assert_applied(d: Path, before: dict[str, str], *, submission: bool) -> None:
    after = postconf_n(d)
    assert after.ok, after.stderr
    for name, value in EXPECTED_MAIN.items():
        assert after.params[name] == value
    assert after.params["smtp_sasl_password_maps"] == f"hash:{d / 'sasl_passwd'}"
    for name, value in before.items():  # everything else kept its value
        if name not in EXPECTED_MAIN and name not in ("smtp_sasl_password_maps", "smtp_tls_wrappermode"):
            assert after.params.get(name) == value, name
    assert postmap_q(d, RELAY) == f"user@example.jp:{PASSWORD}"
    for name in ("sasl_passwd", "sasl_passwd.db"):
        mode = stat.S_IMODE((d / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    if submission:
        options = postconf_P(d)
        for param, value in SUBMISSION.items():
            assert options[f"submission/inet/{param}"] == value


@pytest.mark.postfix
def test_example_dir_apply_then_noop(postconf: str, postmap: str, tmp_path: Path) -> None:
    d = make_dir(tmp_path, (EXAMPLES / "main.cf").read_bytes(), (EXAMPLES / "master.cf").read_bytes())
    before = postconf_n(d).params
    first = run(d, "--submission")
    assert first.returncode == 0, first.stderr
    assert_applied(d, before, submission=True)
    stamp = mtimes(d)
    second = run(d, "--submission")
    assert second.returncode == 0, second.stderr
    assert "already up to date" in second.stdout
    assert mtimes(d) == stamp


@pytest.mark.postfix
def test_debian_stock_files(postconf: str, postmap: str, tmp_path: Path) -> None:
    stock = Path("/usr/share/postfix")
    main = (stock / "main.cf.debian").read_bytes() + (stock / "main.cf.tls").read_bytes()
    d = make_dir(tmp_path, main, (stock / "master.cf.dist").read_bytes())
    before = postconf_n(d).params
    proc = run(d, "--submission")
    assert proc.returncode == 0, proc.stderr
    assert_applied(d, before, submission=True)
    assert run(d, "--submission").stdout.strip() == "already up to date"


@pytest.mark.postfix
def test_port_changes_converge(postconf: str, postmap: str, tmp_path: Path) -> None:
    d = make_dir(tmp_path, (EXAMPLES / "main.cf").read_bytes(), (EXAMPLES / "master.cf").read_bytes())
    assert run(d).returncode == 0
    at_587 = (d / "main.cf").read_bytes()
    assert run(d, relay="[msa.example.jp]:465").returncode == 0
    params = postconf_n(d).params
    assert params["smtp_tls_wrappermode"] == "yes"
    assert params["relayhost"] == "[msa.example.jp]:465"
    assert run(d).returncode == 0
    assert "smtp_tls_wrappermode" not in postconf_n(d).params
    assert (d / "main.cf").read_bytes() == at_587
    assert run(d).stdout.strip() == "already up to date"


def test_check_and_dry_run_write_nothing(tmp_path: Path) -> None:
    d = make_dir(tmp_path, (EXAMPLES / "main.cf").read_bytes(), (EXAMPLES / "master.cf").read_bytes())
    stamp = mtimes(d)
    check = run(d, "--check", "--no-postmap")
    assert check.returncode == 3
    assert "+relayhost = [msa.example.jp]:587" in check.stdout
    assert "+[msa.example.jp]:587 user@example.jp:********" in check.stdout
    dry = run(d, "--dry-run")
    assert dry.returncode == 0
    assert mtimes(d) == stamp
    assert not (d / "sasl_passwd").exists()


@pytest.mark.parametrize("relay", ["[msa.example.jp", "[msa.example.jp]587", "2001:db8::1", "[h]:70000", ""])
def test_malformed_relayhost_is_refused_before_anything(tmp_path: Path, relay: str) -> None:
    d = make_dir(tmp_path, (EXAMPLES / "main.cf").read_bytes(), (EXAMPLES / "master.cf").read_bytes())
    stamp = mtimes(d)
    proc = run(d, relay=relay)
    assert proc.returncode == 1
    assert proc.stderr.startswith("pfedit: error:") and "Traceback" not in proc.stderr
    assert mtimes(d) == stamp


def test_no_password_argument_exists() -> None:
    result = CliRunner().invoke(app, ["apply", "relay-auth", "--help"])
    assert result.exit_code == 0
    assert "--password-file" in result.stdout and "--password " not in result.stdout


def test_password_from_stdin_and_env(tmp_path: Path) -> None:
    d = make_dir(tmp_path, b"myhostname = h\n", b"")
    args = ["apply", "relay-auth", "-c", str(d), "--relayhost", RELAY, "--username", "u", "--no-postmap"]
    result = CliRunner().invoke(app, [*args, "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert (d / "sasl_passwd").read_text() == f"{RELAY} u:{PASSWORD}\n"
    assert stat.S_IMODE((d / "sasl_passwd").stat().st_mode) == 0o600
    result = CliRunner().invoke(app, [*args, "--username", "v"], env={"PFEDIT_RELAY_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert (d / "sasl_passwd").read_text() == f"{RELAY} v:{PASSWORD}\n"


def test_existing_map_is_reused_and_other_entries_kept(tmp_path: Path) -> None:
    d = make_dir(tmp_path, b"smtp_sasl_password_maps = texthash:/X\n", b"")
    table = d / "creds"
    table.write_bytes(b"# mine\n[other.example]:587 a:b\nmsa.example.jp bare:pw\n")
    table.chmod(0o600)
    (d / "main.cf").write_bytes(f"smtp_sasl_password_maps = texthash:{table}\n".encode())
    proc = run(d)
    assert proc.returncode == 0, proc.stderr
    assert "bare host name" in proc.stderr  # the bare entry is looked up first and wins
    assert table.read_bytes() == (b"# mine\n[other.example]:587 a:b\nmsa.example.jp bare:pw\n"
                                  + f"{RELAY} user@example.jp:{PASSWORD}\n".encode())
    assert not (d / "sasl_passwd").exists()


@pytest.mark.postfix
def test_password_never_on_a_command_line(postconf: str, postmap: str, tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "argv.log"
    for tool in ("postconf", "postmap", "postfix"):
        real = shutil.which(tool) or f"/usr/sbin/{tool}"
        script = shims / tool
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0 $*" >> {log}\nexec {real} "$@"\n')
        script.chmod(0o755)
    d = make_dir(tmp_path, (EXAMPLES / "main.cf").read_bytes(), (EXAMPLES / "master.cf").read_bytes())
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{shims}:{old_path}"
    try:
        proc = run(d, "--submission")
    finally:
        os.environ["PATH"] = old_path
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text()
    assert "postmap" in calls and "postconf" in calls
    assert PASSWORD not in calls and "s3cr3t" not in calls


@pytest.mark.postfix
def test_every_corpus_config(postconf: str, postmap: str, tmp_path: Path) -> None:
    mains = corpus_files("main.cf")
    masters = corpus_files("master.cf")
    need_corpus(mains)
    need_postfix(POSTMAP)
    failures = []
    tried = refused = 0
    for i, main_path in enumerate(mains):
        master = masters[i % len(masters)].read_bytes() if masters else b""
        base = tmp_path / f"c{i}"
        base.mkdir()
        d = make_dir(base, main_path.read_bytes(), master)
        before = postconf_n(d)
        if not before.ok:
            continue  # Postfix itself refuses this file; relay-auth must refuse too
        tried += 1
        stamp_before = mtimes(d)
        # An explicit map keeps a corpus file's own smtp_sasl_password_maps path
        # (often /etc/postfix/...) from ever being written to.
        own_map = ("--password-map", str(d / "sasl_passwd"), "--no-postmap", "--submission")
        code, _, err = run_inprocess(d, *own_map)
        if code != 0 and "cannot edit submission/inet" in err and "line " in err:
            refused += 1  # a broken submission entry is reported with its line, never rewritten
            assert mtimes(d) == stamp_before, main_path.name
            continue
        if code != 0:
            failures.append(f"{main_path.name}: {err.strip()[:200]}")
            continue
        after = postconf_n(d)
        for name, value in EXPECTED_MAIN.items():
            if after.params.get(name) != value and not (name == "smtp_tls_security_level"
                                                         and after.params.get(name) in ("verify", "secure")):
                failures.append(f"{main_path.name}: {name} = {after.params.get(name)!r}")
        for name, value in before.params.items():
            if name not in EXPECTED_MAIN and not name.startswith(("smtp_sasl", "smtp_tls_wrappermode")) \
                    and after.params.get(name) != value:
                failures.append(f"{main_path.name}: {name} changed")
        options = postconf_P(d)
        # An active port-587 entry may be spelled "587"; it is updated rather than duplicated.
        entry = "587/inet" if any(k.startswith("587/inet/") for k in options) else "submission/inet"
        for param, value in SUBMISSION.items():
            if options.get(f"{entry}/{param}") != value:
                failures.append(f"{main_path.name}: {entry}/{param} = {options.get(f'{entry}/{param}')!r}")
        if stat.S_IMODE((d / "sasl_passwd").stat().st_mode) != 0o600:
            failures.append(f"{main_path.name}: sasl_passwd not 0600")
        if postmap_q_texthash(d, RELAY) != f"user@example.jp:{PASSWORD}":
            failures.append(f"{main_path.name}: postmap does not find the credentials")
        stamp = mtimes(d)
        run_inprocess(d, *own_map)  # without postmap it can only say what to run
        if mtimes(d) != stamp:
            failures.append(f"{main_path.name}: second run wrote something")
    assert failures == []
    assert tried > 50 and refused < 5


def test_backup_keeps_the_previous_versions(tmp_path: Path) -> None:
    d = make_dir(tmp_path, (EXAMPLES / "main.cf").read_bytes(), (EXAMPLES / "master.cf").read_bytes())
    original = (d / "main.cf").read_bytes()
    code, out, err = run_inprocess(d, "--backup", "--no-postmap")
    assert code == 0, err
    backups = sorted(d.glob("main.cf.pfedit-*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == original
    assert f"backup of {d / 'main.cf'}" in out


def test_submission_spelled_587_is_updated_not_duplicated(tmp_path: Path) -> None:
    master = (b"smtp      inet  n       -       n       -       -       smtpd\n"
              b"587       inet  n       -       n       -       -       smtpd\n")
    d = make_dir(tmp_path, b"myhostname = h\n", master)
    code, _, err = run_inprocess(d, "--submission", "--no-postmap")
    assert code == 0, err
    text = (d / "master.cf").read_bytes()
    assert text.startswith(master)  # both service lines kept as written; options added below 587
    assert b"submission" not in text.replace(b"postfix/submission", b"")
    assert text.endswith(b"  -o milter_macro_daemon_name=ORIGINATING\n")


def test_password_file_first_line_only(tmp_path: Path) -> None:
    d = make_dir(tmp_path, b"myhostname = h\n", b"")
    pw = tmp_path / "pw"
    pw.write_text(f"{PASSWORD}\r\nsecond line is ignored\n")
    result = CliRunner().invoke(app, ["apply", "relay-auth", "-c", str(d), "--relayhost", RELAY, "--username", "u",
                                      "--password-file", str(pw), "--no-postmap"])
    assert result.exit_code == 0, result.output
    assert (d / "sasl_passwd").read_text() == f"{RELAY} u:{PASSWORD}\n"


@pytest.mark.postfix
def test_password_map_named_through_config_directory(postconf: str, postmap: str, tmp_path: Path) -> None:
    """``hash:${config_directory}/sasl_passwd`` (a common form) is the file DIR/sasl_passwd, as
    Postfix expands it: the recipe adds to it and leaves the setting as written."""
    main = b"smtp_sasl_password_maps = hash:${config_directory}/sasl_passwd\n"
    d = make_dir(tmp_path, main, (EXAMPLES / "master.cf").read_bytes())
    (d / "sasl_passwd").write_text("[other.example]:587 someone:else\n")
    (d / "sasl_passwd").chmod(0o600)
    proc = run(d)
    assert proc.returncode == 0, proc.stderr
    after = postconf_n(d)
    assert after.params["smtp_sasl_password_maps"] == "hash:${config_directory}/sasl_passwd"  # as written
    assert postmap_q(d, RELAY) == f"user@example.jp:{PASSWORD}"
    assert postmap_q(d, "[other.example]:587") == "someone:else"
    assert sorted(p.name for p in d.iterdir() if p.name.startswith("sasl_passwd")) == ["sasl_passwd", "sasl_passwd.db"]
    check = subprocess.run([sys.executable, "-m", "pfedit", "check", "-c", str(d), "--json"], capture_output=True,
                           text=True, timeout=120)
    codes = {f["code"] for f in json.loads(check.stdout)}
    assert not codes & {"sasl-no-credentials", "sasl-no-password-map", "password-map-missing"}, codes
