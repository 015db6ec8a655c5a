"""The library stays light: importing it never pulls in the CLI, Typer or Click."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import postfix_conf
from pfedit.main import app

from .conftest import EXAMPLES


def test_importing_the_library_does_not_import_the_cli() -> None:
    code = ("import sys, postfix_conf\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'typer', 'click', 'pfedit', 'rich'})\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_py_typed_is_shipped() -> None:
    assert (Path(postfix_conf.__file__).parent / "py.typed").is_file()


def test_cli_show_reads_the_example_dir() -> None:
    result = CliRunner().invoke(app, ["show", "-c", str(EXAMPLES), "myhostname", "relayhost"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "myhostname = mail.office.example\nrelayhost =\n"


def test_cli_show_reports_a_missing_file_without_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["show", "-c", str(tmp_path)])
    assert result.exit_code == 1
    assert "main.cf" in result.stderr and "Traceback" not in result.output


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "pfedit", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("pfedit ")
