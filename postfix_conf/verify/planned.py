"""``apply relay-auth --verify``: prove the *planned* configuration against the provider first.

The settings are read from the documents the pipeline is about to write (and, for files
the plan does not touch, from the disk), so a wrong password, a TLS mode the port does
not speak or a sender the provider refuses stops the run before anything is written:
no file, no postmap, no reload.
"""

from __future__ import annotations

from pathlib import Path

from ..main_cf import MainCf
from ..master_cf import MasterCf
from ..pipeline import BeforeCommitError, Plan
from ..table import LookupTable
from .client_settings import ClientSettings, client_settings
from .relay_probe import HostResolver, MxResolver, RelayReport, verify_relay


def planned_settings(plan: Plan, sender: str | None = None) -> ClientSettings:
    docs = {Path(p): d for p, d in plan.transaction.documents.items()}

    def doc(name: str, cls: type[MainCf] | type[MasterCf]) -> MainCf | MasterCf | None:
        found = docs.get(plan.config_dir / name)
        if isinstance(found, cls):
            return found
        try:
            return cls.read(plan.config_dir / name)
        except OSError:
            return None

    main = doc("main.cf", MainCf)
    master = doc("master.cf", MasterCf)
    assert isinstance(main, MainCf) and (master is None or isinstance(master, MasterCf))

    def read_table(path: str) -> LookupTable | None:
        found = docs.get(Path(path))
        if isinstance(found, LookupTable):
            return found if not plan.transaction.removing(path) else None
        try:
            return LookupTable.read(path)
        except OSError:
            return None

    return client_settings(plan.config_dir, main, master, read_table, sender=sender)


def verify_plan(plan: Plan, *, sender: str | None = None, timeout: float = 10.0, send_to: str | None = None,
                resolve_mx: MxResolver | None = None, resolve_host: HostResolver | None = None) -> RelayReport:
    """The live probe of :func:`verify_relay`, run against the planned settings."""
    return verify_relay(planned_settings(plan, sender), timeout=timeout, send_to=send_to, resolve_mx=resolve_mx,
                        resolve_host=resolve_host)


def veto(report: RelayReport) -> None:
    """The pipeline's verify step: a failed stage stops the run before anything is written."""
    if report.ok:
        return
    failed = next(s for s in report.stages if s.status == "failed")
    fix = f" ({failed.fix})" if failed.fix else ""
    raise BeforeCommitError("verify", f"the relay did not pass verification at the {failed.name} stage: "
                            f"{failed.detail}{fix}; nothing was written")
