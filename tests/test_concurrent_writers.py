"""Many writers at once behave like ``postconf -e``: nobody is refused, nothing is lost.

Every ``pfedit`` write and every Ansible module reads main.cf under Postfix's edit lock
(the lock ``postconf -e`` takes), so writers queue up instead of detecting a conflict at
commit. The expected
values are read back with ``postconf -h``; each writer has its own parameter, so a lost
update shows as a missing value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, POSTCONF, POSTMAP, backdate, need_postfix, run_postfix_tool
from .test_ansible import BIN, Collection, collection, yaml

__all__ = ["collection"]  # the module-scoped fixture, shared with test_ansible

ROUNDS = 20


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("MAIL_CONFIG", "PFEDIT_RELAY_PASSWORD")}
    out["PATH"] = f"{Path(sys.executable).parent}:/usr/sbin:/sbin:{os.environ.get('PATH', '')}"
    return out


def fresh(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "main.cf").write_bytes((EXAMPLES / "main.cf").read_bytes())
    (d / "master.cf").write_bytes((EXAMPLES / "master.cf").read_bytes())
    backdate(d / "main.cf")
    return d


def values(d: Path) -> dict[str, str]:
    """What postconf -n reads: known parameters on stdout, the writers' own (unused) ones in its
    "unused parameter: name=value" warnings."""
    backdate(d / "main.cf")  # postconf re-reads a main.cf written in the last second
    got = run_postfix_tool([str(POSTCONF), "-c", str(d), "-n"])
    out: dict[str, str] = {}
    for line in got.stdout.decode().splitlines():
        name, _, value = line.partition(" = ")
        out[name.rstrip(" =")] = value
    for line in got.stderr.decode().splitlines():
        if "unused parameter: " in line:
            name, _, value = line.split("unused parameter: ", 1)[1].partition("=")
            out[name] = value
    return out


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())


def finish(procs: list[tuple[str, subprocess.Popen[str]]]) -> list[str]:
    failures = []
    for what, p in procs:
        out, err = p.communicate(timeout=180)
        if p.returncode != 0:
            failures.append(f"{what}: exit {p.returncode}: {out}{err}")
    return failures


@pytest.mark.postfix
def test_pfedit_set_waits_like_postconf_e(tmp_path: Path) -> None:
    """8 pfedit + 4 postconf -e at once, 20 rounds: every writer succeeds, every value is there."""
    need_postfix()
    d = fresh(tmp_path, "etc")
    failures: list[str] = []
    for r in range(ROUNDS):
        procs = [(f"pfedit {i}", start([sys.executable, "-m", "pfedit", "set", "-c", str(d),
                                        f"pfedit_r{r}_w{i}=v{r}.{i}"])) for i in range(8)]
        procs += [(f"postconf {i}", start([str(POSTCONF), "-c", str(d), "-e", f"postconf_r{r}_w{i}=p{r}.{i}"]))
                  for i in range(4)]
        failures += finish(procs)
    assert failures == []
    got = values(d)
    missing = [f"pfedit_r{r}_w{i}" for r in range(ROUNDS) for i in range(8)
               if got.get(f"pfedit_r{r}_w{i}") != f"v{r}.{i}"]
    missing += [f"postconf_r{r}_w{i}" for r in range(ROUNDS) for i in range(4)
                if got.get(f"postconf_r{r}_w{i}") != f"p{r}.{i}"]
    assert missing == []
    assert not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.postfix
def test_32_writers_mixing_set_unset_and_relay_auth(tmp_path: Path) -> None:
    need_postfix()
    need_postfix(POSTMAP)
    d = fresh(tmp_path, "etc")
    doomed = [f"old_{i}" for i in range(8)]
    seeded = run_postfix_tool([str(POSTCONF), "-c", str(d), "-e", *(f"{n}=x" for n in doomed)])
    assert seeded.returncode == 0
    pw = tmp_path / "pw"
    pw.write_text("Mixed-Secret-9\n")
    procs = [(f"set {i}", start([sys.executable, "-m", "pfedit", "set", "-c", str(d), f"new_{i}=n{i}"]))
             for i in range(12)]
    procs += [(f"unset {n}", start([sys.executable, "-m", "pfedit", "unset", "-c", str(d), n])) for n in doomed]
    procs += [(f"relay {i}", start([sys.executable, "-m", "pfedit", "apply", "relay-auth", "-c", str(d),
                                    "--relayhost", "[msa.example.jp]:587", "--username", "u@example.jp",
                                    "--password-file", str(pw), "--submission"])) for i in range(4)]
    procs += [(f"postconf {i}", start([str(POSTCONF), "-c", str(d), "-e", f"pc_{i}=c{i}"])) for i in range(8)]
    assert len(procs) == 32
    assert finish(procs) == []
    got = values(d)
    assert [f"new_{i}" for i in range(12) if got.get(f"new_{i}") != f"n{i}"] == []
    assert [n for n in doomed if n in got] == []
    assert [f"pc_{i}" for i in range(8) if got.get(f"pc_{i}") != f"c{i}"] == []
    assert got["relayhost"] == "[msa.example.jp]:587" and got["smtp_tls_security_level"] == "encrypt"
    query = run_postfix_tool([str(POSTMAP), "-c", str(d), "-q", "[msa.example.jp]:587", f"hash:{d}/sasl_passwd"])
    assert query.stdout.decode().strip() == "u@example.jp:Mixed-Secret-9"
    assert (d / "master.cf").read_bytes().count(b"\nsubmission inet") == 1
    assert not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.postfix
def test_postfix_main_tasks_wait_like_postconf_e(collection: Collection, tmp_path: Path) -> None:
    """8 postfix_main tasks in parallel (one playbook, 8 inventory hosts, forks=8) and 4 postconf -e."""
    need_postfix()
    d = fresh(tmp_path, "etc")
    hosts = [f"w{i}" for i in range(8)]
    inventory, book = tmp_path / "hosts.yml", tmp_path / "parallel.yml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "one parameter per host", "pfedit.postfix.postfix_main": {
            "config_dir": str(d), "parameters": "{{ wanted }}"}}]}]))
    for r in range(3):
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {h: {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "wanted": {f"ansible_r{r}_{h}": f"a{r}"}} for h in hosts}}}))
        playbook = subprocess.Popen([str(BIN / "ansible-playbook"), "-i", str(inventory), "-f", "8", str(book)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=collection.env | {"PFEDIT_RECORD": str(tmp_path / f"record-{r}.json")},
                                    cwd=tmp_path)
        others = [(f"postconf {i}", start([str(POSTCONF), "-c", str(d), "-e", f"pc_r{r}_{i}=c{i}"]))
                  for i in range(4)]
        out, err = playbook.communicate(timeout=300)
        assert playbook.returncode == 0, out + err
        assert "changed=1" in out and "failed=0" in out
        assert finish(others) == []
    got = values(d)
    assert [f"ansible_r{r}_{h}" for r in range(3) for h in hosts if got.get(f"ansible_r{r}_{h}") != f"a{r}"] == []
    assert [f"pc_r{r}_{i}" for r in range(3) for i in range(4) if got.get(f"pc_r{r}_{i}") != f"c{i}"] == []
