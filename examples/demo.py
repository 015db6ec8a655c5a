"""`make demo`: a parse/edit round on the shipped example config dir.

Copies ``examples/etc-postfix`` to ``demo/etc-postfix`` (a fresh copy each run),
points it at an authenticated relay on the submission port, shows the diff, then
runs the same edits again to show that nothing changes the second time.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from postfix_conf import MainCf

HERE = Path(__file__).resolve().parent
TARGET = HERE.parent / "demo" / "etc-postfix"

RELAY = {
    "relayhost": "[msa.example.jp]:587",
    "smtp_sasl_auth_enable": "yes",
    "smtp_sasl_password_maps": f"hash:{TARGET}/sasl_passwd",
    "smtp_sasl_security_options": "noanonymous",
    "smtp_sasl_tls_security_options": "noanonymous",
    "smtp_tls_security_level": "encrypt",
}


def apply(path: Path) -> bool:
    doc = MainCf.read(path)
    changed = [name for name, value in RELAY.items() if doc.set(name, value)]
    if changed:
        sys.stdout.write(doc.diff(fromfile=f"a/{path.name}", tofile=f"b/{path.name}"))
        doc.write(path)
        print(f"\n{path}: set {', '.join(changed)}")
    else:
        print(f"{path}: already up to date")
    return bool(changed)


def main() -> int:
    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(HERE / "etc-postfix", TARGET)
    main_cf = TARGET / "main.cf"
    before = MainCf.read(main_cf)
    print(f"== {main_cf}: {len(before.parameters())} parameters, "
          f"{len(before.diagnostics)} diagnostics, {len(before.to_bytes())} bytes round-tripped exactly")
    print("== first run")
    apply(main_cf)
    print("== second run")
    return 1 if apply(main_cf) else 0


if __name__ == "__main__":
    raise SystemExit(main())
