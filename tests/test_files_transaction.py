"""Multi-file commits: all files old or all new, and the error says which.

Failures are injected for real: a read-only bind mount over one file's directory
(fails while staging) and a bind mount over one target file (the rename itself
fails with EBUSY after other files were already swapped in).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postfix_conf import _lock
from postfix_conf.errors import ConcurrentModificationError
from postfix_conf.files import (
    ConfigDir,
    ReadOnlyFileSystemError,
    Transaction,
    TransactionError,
    read_file,
)
from postfix_conf.main_cf import MainCf

from .helpers_files import bind, child_env, listing

MAIN = b"myhostname = old.example\n"
MASTER = b"smtp      inet  n       -       y       -       -       smtpd\n"


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    d = tmp_path / "conf"
    (d / "maps").mkdir(parents=True)
    (d / "main.cf").write_bytes(MAIN)
    (d / "master.cf").write_bytes(MASTER)
    (d / "other.cf").write_bytes(b"other = old\n")
    (d / "maps" / "sub.cf").write_bytes(b"sub = old\n")
    return d


def _all_tmp(d: Path) -> list[str]:
    return [str(p) for p in d.rglob("*") if p.name.endswith((".tmp", ".bak"))]


def test_commit_writes_all_files(conf: Path) -> None:
    table_mod = pytest.importorskip("postfix_conf.table")
    with ConfigDir(conf).transaction(backup=True) as tx:
        tx.main_cf().set("relayhost", "[smtp.example.com]:587")
        tx.main_cf().set("smtp_sasl_auth_enable", "yes")  # same document, loaded once
        pw = tx.table("sasl_passwd", secret=True, create=True)
        assert isinstance(pw, table_mod.LookupTable)
        pw.set("[smtp.example.com]:587", "user:secret")
        tx.master_cf()  # loaded, not changed: not written
        assert tx.pending() == [str(conf / "main.cf"), str(conf / "sasl_passwd")]
        assert "+relayhost = [smtp.example.com]:587" in tx.diff()
    main = (conf / "main.cf").read_bytes()
    assert b"relayhost = [smtp.example.com]:587\n" in main and b"smtp_sasl_auth_enable = yes\n" in main
    assert (conf / "sasl_passwd").read_bytes() == b"[smtp.example.com]:587 user:secret\n"
    assert stat.S_IMODE((conf / "sasl_passwd").stat().st_mode) == 0o600
    assert (conf / "master.cf").read_bytes() == MASTER
    baks = [p.name for p in conf.iterdir() if p.name.endswith(".bak")]
    assert len(baks) == 1 and baks[0].startswith("main.cf.pfedit-")  # new file: nothing to back up
    assert not [p for p in conf.iterdir() if p.name.endswith(".tmp")]


def test_commit_result_and_unchanged(conf: Path) -> None:
    tx = Transaction(conf)
    tx.load("other.cf", MainCf).set("other", "new")
    tx.load("maps/sub.cf", MainCf).set("sub", "old")  # no change at all
    doc = tx.main_cf()
    doc.set("myhostname", "new.example")
    (conf / "main.cf").write_bytes(b"myhostname = new.example\n")  # someone already did it
    res = tx.commit()
    assert res.written == (str(conf / "other.cf"),)
    assert res.unchanged == (str(conf / "main.cf"),)
    assert not doc.changed
    with pytest.raises(RuntimeError, match="closed"):
        tx.commit()


def test_exception_in_block_discards_everything(conf: Path) -> None:
    with pytest.raises(KeyError), Transaction(conf) as tx:
        tx.main_cf().set("myhostname", "new.example")
        raise KeyError("caller bug")
    assert (conf / "main.cf").read_bytes() == MAIN


def test_conflict_aborts_before_anything_is_written(conf: Path) -> None:
    tx = Transaction(conf, backup=True)
    tx.main_cf().set("myhostname", "new.example")
    tx.load("other.cf", MainCf).set("other", "new")
    (conf / "other.cf").write_bytes(b"other = changed-by-someone\n")
    with pytest.raises(TransactionError) as ei:
        tx.commit()
    err = ei.value
    assert isinstance(err.cause, ConcurrentModificationError)
    assert err.failed == str(conf / "other.cf")
    assert err.old == [str(conf / "main.cf"), str(conf / "other.cf")] and err.new == []
    assert "unchanged (old content): " in str(err) and "written (new content): none" in str(err)
    assert (conf / "main.cf").read_bytes() == MAIN
    assert (conf / "other.cf").read_bytes() == b"other = changed-by-someone\n"
    assert _all_tmp(conf) == []


@pytest.mark.root
def test_read_only_directory_fails_while_staging_all_old(conf: Path) -> None:
    maps = conf / "maps"
    tx = Transaction(conf, backup=True)
    tx.main_cf().set("myhostname", "new.example")
    tx.load("maps/sub.cf", MainCf).set("sub", "new")
    tx.load("other.cf", MainCf).set("other", "new")
    before = {p: p.stat().st_ino for p in (conf / "main.cf", conf / "other.cf", maps / "sub.cf")}
    with bind(maps, maps, read_only=True), pytest.raises(TransactionError) as ei:
        tx.commit()
    err = ei.value
    assert isinstance(err.cause, ReadOnlyFileSystemError)
    assert err.failed == str(maps / "sub.cf")
    assert sorted(err.old) == sorted(str(p) for p in before) and err.new == []
    assert "read-only file system" in str(err) and err.rolled_back == []
    assert {p: p.stat().st_ino for p in before} == before
    assert (conf / "main.cf").read_bytes() == MAIN and (maps / "sub.cf").read_bytes() == b"sub = old\n"
    assert _all_tmp(conf) == []


@pytest.mark.root
@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "plain-rename"])
def test_rename_failure_half_way_rolls_back(conf: Path, tmp_path: Path, exchange: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """zz.cf is a bind-mount point: rename onto it fails (EBUSY) after main.cf and
    other.cf (a symlink: two locks) were already swapped in; they are swapped back."""
    monkeypatch.setattr(_lock, "USE_RENAMEAT2", exchange)
    real = tmp_path / "conf-real"  # sorts before conf/: committed before zz.cf fails
    real.mkdir()
    (conf / "other.cf").rename(real / "other.cf")
    (conf / "other.cf").symlink_to(real / "other.cf")
    zz = conf / "zz.cf"
    zz.write_bytes(b"")
    src = tmp_path / "zz-source.cf"
    src.write_bytes(b"zz = old\n")
    files = [conf / "main.cf", conf / "other.cf", zz]
    with bind(src, zz):
        tx = Transaction(conf, backup=True)
        for p in files:
            doc = tx.load(p.name, MainCf)
            doc.set("added", "by-transaction")
        before = {p: (p.read_bytes(), p.stat().st_ino) for p in files}
        with pytest.raises(TransactionError) as ei:
            tx.commit()
        err = ei.value
        assert err.failed == str(zz) and "Device or resource busy".lower() in str(err).lower()
        assert sorted(err.old) == sorted(str(p) for p in files) and err.new == []
        swapped = files[:2]  # were committed, then put back
        assert sorted(err.rolled_back) == sorted(str(p) for p in swapped)
        assert "rolled back: " in str(err)
        for p in files:
            assert p.read_bytes() == before[p][0], p
        if exchange:  # the very same inodes are back, with all their attributes
            assert {p: p.stat().st_ino for p in files} == {p: v[1] for p, v in before.items()}
        else:  # the old bytes were written back into new inodes
            assert all(p.stat().st_ino != before[p][1] for p in swapped)
        assert _all_tmp(conf) == [] and _all_tmp(real) == []
    assert sorted(listing(conf)) == ["main.cf", "maps", "master.cf", "other.cf", "zz.cf"]
    assert (conf / "other.cf").is_symlink()


TX_WORKER = r"""
import sys, time
from postfix_conf.files import Transaction, TransactionError
from postfix_conf.errors import ConcurrentModificationError
from postfix_conf.main_cf import MainCf
conf, name, order = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
done = conflicts = 0
while done < 15:
    tx = Transaction(conf, lock_timeout=20)
    for f in order:
        tx.load(f, MainCf).set(f"{name}_{done}", "x")
    try:
        tx.commit()
        done += 1
    except TransactionError as e:
        if not isinstance(e.cause, ConcurrentModificationError):
            raise
        conflicts += 1
print(conflicts)
"""


@pytest.mark.slow
def test_concurrent_transactions_do_not_deadlock_or_lose_edits(conf: Path) -> None:
    """Loaded in opposite orders; locks are always taken in path order, so no deadlock.
    Optimistic transactions conflict and retry; every committed edit is in both files."""
    orders = ["main.cf,other.cf", "other.cf,main.cf", "main.cf,other.cf"]
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", TX_WORKER, str(conf), f"w{i}", o],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
             for i, o in enumerate(orders)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    print(f"\n{len(procs)} processes x 15 two-file transactions in {time.monotonic() - t0:.2f}s")
    for f in ("main.cf", "other.cf"):
        data, _ = read_file(conf / f)
        doc = MainCf.parse(data)
        for i in range(len(orders)):
            for k in range(15):
                assert doc.get(f"w{i}_{k}") == "x", (f, i, k)
    assert _all_tmp(conf) == []


def test_load_same_file_twice_returns_same_document(conf: Path) -> None:
    tx = Transaction(conf)
    a = tx.main_cf()
    link = conf / "link.cf"
    os.symlink("main.cf", link)
    assert tx.load("link.cf", MainCf) is a


# -- removing files, holding a commit -------------------------------------------------------------
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "rename-only"])
def test_remove_with_other_files_and_roll_it_all_back(conf: Path, exchange: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lock, "USE_RENAMEAT2", exchange)
    secret = conf / "maps" / "gone"
    secret.write_bytes(b"k v\n")
    secret.chmod(0o600)
    before = {p: (p.read_bytes(), p.stat().st_ino) for p in (conf / "main.cf", secret)}
    tx = ConfigDir(conf).transaction(lock=True)
    tx.main_cf().set("relayhost", "[r.example]")
    tx.remove(secret)
    tx.remove(conf / "maps" / "never-there")  # nothing to do
    assert tx.removing(secret) and not tx.removing(conf / "maps" / "never-there")
    result = tx.commit(hold=True)
    assert not secret.exists() and b"relayhost" in (conf / "main.cf").read_bytes()
    assert result.removed == (str(secret),)
    assert tx.rollback() == []
    after = {p: (p.read_bytes(), p.stat().st_ino) for p in (conf / "main.cf", secret)}
    if exchange:
        assert after == before  # the very same inodes are back
    else:
        assert {p: v[0] for p, v in after.items()} == {p: v[0] for p, v in before.items()}
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert listing(conf / "maps") == {"gone", "sub.cf"} and "main.cf.tmp" not in listing(conf)


def test_remove_commits(conf: Path) -> None:
    victim = conf / "maps" / "victim"
    victim.write_bytes(b"a b\n")
    with ConfigDir(conf).transaction(lock=True) as tx:
        tx.remove(victim)
    assert listing(conf / "maps") == {"sub.cf"}


def test_remove_refuses_a_file_changed_behind_an_optimistic_transaction(conf: Path) -> None:
    victim = conf / "maps" / "victim"
    victim.write_bytes(b"a b\n")
    tx = ConfigDir(conf).transaction()
    tx.remove(victim)
    victim.write_bytes(b"a c\n")
    with pytest.raises(TransactionError):
        tx.commit()
    assert victim.read_bytes() == b"a c\n"
