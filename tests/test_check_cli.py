"""``pfedit check``: output format, JSON, exit codes, --strict, and no secret in any output.

The command is registered here on a scratch Typer app, exactly as ``pfedit.main`` is
to register it (``app.command()(check.check)``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pfedit import check as check_cli
from postfix_conf.postfix_tools import installed_version

from .conftest import EXAMPLES, make_config_dir

app = typer.Typer()
app.command()(check_cli.check)


@app.callback()
def _root() -> None:
    """Subcommand mode, as in pfedit.main."""


runner = CliRunner()
SECRET = "Sup3r-Secret-Pw"


def config(tmp_path: Path, extra_main: str = "", master: str = "smtp inet n - n - - smtpd\n") -> Path:
    """The shipped example (74 lines), its alias map moved into the scratch directory."""
    d = tmp_path / "etc"
    shutil.copytree(EXAMPLES, d)
    main = (d / "main.cf").read_text().replace("/etc/aliases", f"{d}/aliases") + extra_main
    (d / "aliases").write_text("postmaster: root\n")
    (d / "aliases.db").write_bytes(b"compiled")
    return make_config_dir(d, main.encode(), master.encode())


def test_installed_version_is_the_default(tmp_path: Path) -> None:
    if installed_version() is None:
        pytest.skip("postconf not installed")
    result = runner.invoke(app, ["check", "-c", str(config(tmp_path))])
    assert result.exit_code == 0 and f"(Postfix {installed_version()})" in result.stderr


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["check", "--postfix-version", "3.7", *args])
    return result.exit_code, result.stdout, result.stderr


def test_clean_examples_exit_0(tmp_path: Path) -> None:
    code, out, err = invoke("-c", str(config(tmp_path)))
    assert code == 0 and out == ""
    assert "no problems found" in err


def test_errors_exit_1_with_one_line_per_finding(tmp_path: Path) -> None:
    d = config(tmp_path, "mynetworks = 0.0.0.0/0\nrelayhost = smtp.example.com:587\n")
    code, out, err = invoke("-c", str(d))
    assert code == 1
    lines = out.splitlines()
    heads = [ln for ln in lines if not ln.startswith("    fix: ")]
    fixes = [ln for ln in lines if ln.startswith("    fix: ")]
    assert len(heads) == len(fixes) and lines[1::2] == fixes
    assert any(h.startswith(f"{d}/main.cf:75: error: smtp/inet is an open relay") and h.endswith("[open-relay]")
               for h in heads)
    assert any(h.endswith("[relayhost-mx-lookup]") and ": warning: " in h for h in heads)
    assert "1 error, " in err


def test_warnings_exit_0_unless_strict(tmp_path: Path) -> None:
    d = config(tmp_path, "relayhost = smtp.example.com:587\n")
    assert invoke("-c", str(d))[0] == 0
    assert invoke("-c", str(d), "--strict")[0] == 1


def test_json_is_a_list_of_findings(tmp_path: Path) -> None:
    d = config(tmp_path, "smtpd_tls_security_levle = may\n")
    code, out, _ = invoke("-c", str(d), "--json")
    data = json.loads(out)
    assert code == 0 and isinstance(data, list) and len(data) == 1
    assert set(data[0]) == {"code", "severity", "file", "line", "message", "fix"}
    assert data[0]["code"] == "unknown-parameter" and data[0]["file"] == f"{d}/main.cf"


def test_no_secret_in_any_output(tmp_path: Path) -> None:
    d = config(tmp_path, f"relayhost = [smtp.example.com]:587\nsmtp_sasl_auth_enable = yes\n"
                         f"smtp_sasl_password_maps = texthash:{tmp_path}/etc/sasl_passwd\n"
                         f"smtp_sasl_pasword_maps = static:u:{SECRET}\n")
    table = d / "sasl_passwd"
    table.write_text(f"smtp.example.com other:{SECRET}\n[smtp.example.com]:587 user:{SECRET}\n"
                     f"[smtp.example.com]:587 dup:{SECRET}x\n")
    table.chmod(0o644)
    for args in ((), ("--json",)):
        code, out, err = invoke("-c", str(d), *args)
        assert code == 1  # the password map is world-readable
        assert SECRET not in out + err
    codes = {f["code"] for f in json.loads(invoke("-c", str(d), "--json")[1])}
    assert {"password-map-readable", "sasl-shadowed-credentials", "table-duplicate-key",
            "unknown-parameter"} <= codes


def test_default_config_dir_from_mail_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_CONFIG", str(config(tmp_path)))
    assert invoke()[0] == 0


def test_bad_version_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "-c", str(config(tmp_path)), "--postfix-version", "latest"])
    assert result.exit_code == 2 and "not a Postfix version" in result.stderr


def test_version_of_installed_postfix() -> None:
    version = installed_version()
    if version is None:
        pytest.skip("postconf not installed")
    assert version.split(".")[0].isdigit()
