"""`make demo`: the headline job on a copy of the shipped example config dir.

Copies ``examples/etc-postfix`` to ``demo/etc-postfix`` (fresh each run) and runs
``pfedit apply relay-auth`` on it twice, as a user behind port-25 blocking would:
first with ``--diff`` (the password map's password is masked), then again to show
that a second run finds nothing to do. The demo password is read from a 0600 file,
never from the command line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "demo"
TARGET = DEMO / "etc-postfix"


def pfedit(*args: str) -> int:
    cmd = [sys.executable, "-m", "pfedit", *args]
    shown = ["pfedit", *args]
    print("$ " + " ".join(a if " " not in a else repr(a) for a in shown), flush=True)
    return subprocess.run(cmd, check=False).returncode


def main() -> int:
    if DEMO.exists():
        shutil.rmtree(DEMO)
    shutil.copytree(HERE / "etc-postfix", TARGET)
    password = DEMO / "relay-password"
    password.touch(mode=0o600)
    password.write_text("demo-password-not-real\n")
    common = ["apply", "relay-auth", "--config-dir", str(TARGET), "--relayhost", "[msa.example.jp]:587",
              "--username", "home-server@example.jp", "--password-file", str(password), "--submission"]
    print("== first run: relay through the provider's submission port with SMTP AUTH\n", flush=True)
    if pfedit(*common, "--diff") != 0:
        return 1
    print("\n== second run: nothing left to do\n", flush=True)
    if pfedit(*common) != 0:
        return 1
    print(f"\nThe edited files are in {TARGET}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
