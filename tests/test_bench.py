"""``bench/speed.py`` runs to the end and prints every figure (a smoke test: no timing is judged)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO

ROWS = {
    "1": "MainCf.read(p).parameters() vs postconf",
    "2": "python -c 'import postfix_conf' vs python -c pass",
    "3": "pfedit get NAME vs a bare two-command Typer app",
    "4": "pfedit apply relay-auth",
    "5": "parse + parameters() + serialise",
    "6": "tracemalloc peak",
}


def test_bench_quick_mode_prints_every_row() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "speed.py"), "--quick"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    for number, what in ROWS.items():
        assert any(ln.startswith(f"{number}  ") and what in ln for ln in lines), (number, proc.stdout)
    assert any(ln.startswith("5  ") and "parse + serialise, in process" in ln for ln in lines), proc.stdout
    assert any(ln.startswith("6  ") and "lines over" in ln for ln in lines), proc.stdout
    assert any(ln.startswith("context: python -c pass") for ln in lines), proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
