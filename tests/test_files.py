"""Safe writes, single process: results, attributes, idempotence, conflicts, errors, secrets.

Real files only; the multi-process, mount and Postfix-interaction tests are in
``test_files_processes.py``, ``test_files_mounts.py`` and ``test_files_transaction.py``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from postfix_conf.errors import ConcurrentModificationError, FileWriteError, PostfixConfError
from postfix_conf.files import (
    FileMissingError,
    InsecureFileError,
    MissingDirectoryError,
    NotRegularFileError,
    edit_file,
    ensure_private,
    read_file,
    write_atomic,
)
from postfix_conf.main_cf import MainCf
from postfix_conf.maps import secure_compiled_map
from tests.conftest import POSTMAP, backdate, need_postfix, run_postfix_tool

from .helpers_files import NOBODY_GID, NOBODY_UID, is_root, listing, need_root, snapshot, xattrs_supported

OLD = b"# main.cf\nmyhostname = old.example\nrelayhost =\n"
NEW = b"# main.cf\nmyhostname = new.example\nrelayhost = [smtp.example.com]:587\n"
BAK = re.compile(r"^main\.cf\.pfedit-\d{8}T\d{6}Z(-\d+)?\.bak$")


@pytest.fixture
def main_cf(tmp_path: Path) -> Path:
    p = tmp_path / "main.cf"
    p.write_bytes(OLD)
    p.chmod(0o644)
    return p


# -- basics ---------------------------------------------------------------------------------
def test_write_replaces_content_and_reports(main_cf: Path) -> None:
    data, fp = read_file(main_cf)
    assert data == OLD and fp.size == len(OLD) and fp.matches(OLD)
    r = write_atomic(main_cf, NEW, expect=fp)
    assert r.written and not r.created and r.path == str(main_cf)
    assert main_cf.read_bytes() == NEW
    assert r.fingerprint is not None and r.fingerprint.matches(NEW)
    assert r.fingerprint.st_ino == main_cf.stat().st_ino
    assert listing(main_cf.parent) == {"main.cf"}


def test_unchanged_content_is_not_written(main_cf: Path) -> None:
    before = snapshot(main_cf)
    dir_mtime = main_cf.parent.stat().st_mtime_ns
    r = write_atomic(main_cf, OLD, expect=OLD)
    assert not r.written
    assert snapshot(main_cf) == before  # same bytes, inode, mtime, mode, owner
    assert main_cf.parent.stat().st_mtime_ns == dir_mtime  # not even a temp file
    # The same through the document API and through edit_file (decided under the lock).
    doc = MainCf.read(main_cf)
    assert doc.write() is False
    res = edit_file(main_cf, MainCf.parse, lambda d: d.set("myhostname", "old.example"))
    assert not res.written
    assert snapshot(main_cf) == before
    assert listing(main_cf.parent) == {"main.cf"}


def test_unchanged_even_when_stale_expectation(main_cf: Path) -> None:
    """The wanted bytes are already there: nothing to do, nothing to refuse."""
    r = write_atomic(main_cf, OLD, expect=b"something else")
    assert not r.written


def test_new_file_is_created(tmp_path: Path) -> None:
    p = tmp_path / "transport"
    r = write_atomic(p, b"example.com smtp:[relay]\n", expect=b"")
    assert r.written and r.created
    assert p.read_bytes() == b"example.com smtp:[relay]\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o644 & ~_umask()
    assert listing(tmp_path) == {"transport"}


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_empty_expectation_refuses_existing_file(main_cf: Path) -> None:
    with pytest.raises(ConcurrentModificationError, match=r"main\.cf"):
        write_atomic(main_cf, NEW, expect=b"")
    assert main_cf.read_bytes() == OLD
    assert listing(main_cf.parent) == {"main.cf"}


# -- concurrent modification ------------------------------------------------------------------
def test_conflict_is_refused_not_overwritten(main_cf: Path) -> None:
    _, fp = read_file(main_cf)
    main_cf.write_bytes(OLD + b"added_by_someone = 1\n")  # in place: same inode
    with pytest.raises(ConcurrentModificationError, match="modified in place"):
        write_atomic(main_cf, NEW, expect=fp)
    assert main_cf.read_bytes() == OLD + b"added_by_someone = 1\n"
    assert listing(main_cf.parent) == {"main.cf"}


def test_conflict_after_replacement_names_it(main_cf: Path) -> None:
    _, fp = read_file(main_cf)
    other = main_cf.with_name("x")
    other.write_bytes(b"replaced = 1\n")
    other.replace(main_cf)
    with pytest.raises(ConcurrentModificationError, match="replaced"):
        write_atomic(main_cf, NEW, expect=fp)
    assert main_cf.read_bytes() == b"replaced = 1\n"


def test_conflict_when_removed(main_cf: Path) -> None:
    _, fp = read_file(main_cf)
    main_cf.unlink()
    with pytest.raises(ConcurrentModificationError, match="removed"):
        write_atomic(main_cf, NEW, expect=fp)
    assert listing(main_cf.parent) == set()


def test_same_content_new_inode_is_not_a_conflict(main_cf: Path) -> None:
    """What postconf -e does on a no-op edit: same bytes, new inode. Nothing is lost."""
    _, fp = read_file(main_cf)
    tmp = main_cf.with_name("y")
    tmp.write_bytes(OLD)
    tmp.replace(main_cf)
    assert write_atomic(main_cf, NEW, expect=fp).written


def test_document_write_detects_conflict_and_resets_baseline(main_cf: Path) -> None:
    doc = MainCf.read(main_cf)
    doc.set("relayhost", "[a.example]")
    assert doc.write() is True
    assert not doc.changed and doc.source == main_cf.read_bytes()
    doc.set("relayhost", "[b.example]")
    main_cf.write_bytes(main_cf.read_bytes() + b"x = 1\n")
    with pytest.raises(ConcurrentModificationError):
        doc.write()
    assert main_cf.read_bytes().endswith(b"x = 1\n")


def test_document_save_as_other_path(main_cf: Path, tmp_path: Path) -> None:
    doc = MainCf.read(main_cf)
    doc.set("myhostname", "copy.example")
    dest = tmp_path / "staged" / "main.cf"
    dest.parent.mkdir()
    dest.write_bytes(b"unrelated = 1\n")
    assert doc.write(dest) is True
    assert b"copy.example" in dest.read_bytes()
    assert main_cf.read_bytes() == OLD


# -- edit_file ---------------------------------------------------------------------------------
def test_edit_file_applies_to_current_content(main_cf: Path) -> None:
    main_cf.write_bytes(OLD + b"later = 1\n")  # changed after "we" looked: edit_file reads under lock
    res = edit_file(main_cf, MainCf.parse, lambda d: d.set("relayhost", "[r.example]"))
    assert res.written
    text = main_cf.read_bytes()
    assert b"later = 1\n" in text and b"relayhost = [r.example]\n" in text
    assert res.document.source == text and not res.document.changed


def test_edit_file_failing_edit_writes_nothing(main_cf: Path) -> None:
    before = snapshot(main_cf)

    def boom(doc: MainCf) -> None:
        doc.set("a", "1")
        raise RuntimeError("edit failed")

    with pytest.raises(RuntimeError):
        edit_file(main_cf, MainCf.parse, boom)
    assert snapshot(main_cf) == before
    assert listing(main_cf.parent) == {"main.cf"}


def test_edit_file_missing_and_create(tmp_path: Path) -> None:
    p = tmp_path / "main.cf"
    with pytest.raises(FileMissingError, match="does not exist"):
        edit_file(p, MainCf.parse, lambda d: d.set("a", "1"))
    assert listing(tmp_path) == set()
    res = edit_file(p, MainCf.parse, lambda d: d.set("a", "1"), create=True)
    assert res.result.created and p.read_bytes() == b"a = 1\n"


# -- attributes -----------------------------------------------------------------------------------
@pytest.mark.root
def test_mode_owner_group_kept(main_cf: Path) -> None:
    need_root()
    main_cf.chmod(0o640)
    os.chown(main_cf, NOBODY_UID, NOBODY_GID)
    write_atomic(main_cf, NEW, expect=OLD)
    st = main_cf.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, NOBODY_UID, NOBODY_GID)
    assert main_cf.read_bytes() == NEW


def test_unusual_mode_kept(main_cf: Path) -> None:
    main_cf.chmod(0o604)
    write_atomic(main_cf, NEW, expect=OLD)
    assert stat.S_IMODE(main_cf.stat().st_mode) == 0o604


def test_symlink_is_written_through(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "main.cf.real"
    real.write_bytes(OLD)
    real.chmod(0o640)
    conf = tmp_path / "conf"
    conf.mkdir()
    link = conf / "main.cf"
    link.symlink_to(real)
    r = write_atomic(link, NEW, expect=OLD)
    assert r.path == str(real)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == NEW and stat.S_IMODE(real.stat().st_mode) == 0o640
    assert listing(conf) == {"main.cf"} and listing(real_dir) == {"main.cf.real"}
    # Through the document API too.
    doc = MainCf.read(link)
    doc.set("relayhost", "")
    assert doc.write() and link.is_symlink()


def test_hard_links_are_broken_like_postconf(main_cf: Path) -> None:
    """Documented choice: atomic replacement wins; the other name keeps the old content."""
    other = main_cf.with_name("main.cf.hardlink")
    os.link(main_cf, other)
    r = write_atomic(main_cf, NEW, expect=OLD)
    assert r.hardlinks_broken == 1
    assert main_cf.read_bytes() == NEW and other.read_bytes() == OLD
    assert main_cf.stat().st_nlink == 1 and other.stat().st_nlink == 1


def test_user_xattr_kept_and_stale_ones_dropped(main_cf: Path) -> None:
    if not xattrs_supported(main_cf.parent):
        pytest.skip("file system does not support user.* extended attributes")
    os.setxattr(main_cf, "user.pfedit-test", b"keep me")
    write_atomic(main_cf, NEW, expect=OLD)
    assert os.getxattr(main_cf, "user.pfedit-test") == b"keep me"
    # A leftover lock/temp file carrying an attribute must not pass it on.
    tmp = main_cf.with_name("main.cf.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.setxattr(tmp, "user.stale", b"x")
    os.removexattr(main_cf, "user.pfedit-test")
    write_atomic(main_cf, OLD, expect=NEW)
    assert os.listxattr(main_cf) == [n for n in os.listxattr(main_cf) if not n.startswith("user.")]
    assert listing(main_cf.parent) == {"main.cf"}


def test_selinux_label_kept_when_present(main_cf: Path) -> None:
    try:
        label = os.getxattr(main_cf, "security.selinux")
    except OSError:
        pytest.skip("no SELinux label on this file system (SELinux not enabled)")
    write_atomic(main_cf, NEW, expect=OLD)
    assert os.getxattr(main_cf, "security.selinux") == label


# -- backups ------------------------------------------------------------------------------------
def test_backup_keeps_previous_version_with_its_attributes(main_cf: Path) -> None:
    main_cf.chmod(0o640)
    before = snapshot(main_cf)
    r = write_atomic(main_cf, NEW, expect=OLD, backup=True)
    assert r.backup is not None
    bak = Path(r.backup)
    assert BAK.match(bak.name), bak.name
    assert snapshot(bak) == before  # old bytes, old inode, old mtime, mode, owner
    assert listing(main_cf.parent) == {"main.cf", bak.name}
    r2 = write_atomic(main_cf, OLD, expect=NEW, backup=True)  # same second: distinct name
    assert r2.backup is not None and r2.backup != r.backup and Path(r2.backup).read_bytes() == NEW
    # Unchanged content: no write, no backup.
    assert write_atomic(main_cf, OLD, expect=OLD, backup=True).backup is None


def test_failed_write_removes_its_backup(main_cf: Path) -> None:
    _, fp = read_file(main_cf)
    main_cf.write_bytes(b"changed = 1\n")
    with pytest.raises(ConcurrentModificationError):
        write_atomic(main_cf, NEW, expect=fp, backup=True)
    assert listing(main_cf.parent) == {"main.cf"}


# -- errors ------------------------------------------------------------------------------------------
def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MissingDirectoryError, match=r"nope.*does not exist") as ei:
        write_atomic(tmp_path / "nope" / "main.cf", NEW, expect=None)
    assert isinstance(ei.value, FileNotFoundError) and isinstance(ei.value, PostfixConfError)
    assert not (tmp_path / "nope").exists()


def test_directory_path(tmp_path: Path) -> None:
    d = tmp_path / "main.cf"
    d.mkdir()
    with pytest.raises(NotRegularFileError, match="is a directory") as ei:
        write_atomic(d, NEW, expect=None)
    assert str(d) in str(ei.value) and isinstance(ei.value, FileWriteError)
    assert listing(tmp_path) == {"main.cf"} and listing(d) == set()


def test_device_path() -> None:
    before = os.path.lexists("/dev/null.tmp")
    with pytest.raises(NotRegularFileError, match="/dev/null: is a character device"):
        write_atomic("/dev/null", NEW, expect=None)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert os.path.lexists("/dev/null.tmp") == before


def test_symlink_to_device(tmp_path: Path) -> None:
    link = tmp_path / "main.cf"
    link.symlink_to("/dev/null")
    with pytest.raises(NotRegularFileError, match="character device"):
        write_atomic(link, NEW, expect=None)
    assert link.is_symlink()


def test_fifo_path(tmp_path: Path) -> None:
    fifo = tmp_path / "main.cf"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        write_atomic(fifo, NEW, expect=None)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        read_file(fifo)  # and reading does not block


def test_squatters_on_the_lock_name(main_cf: Path, tmp_path: Path) -> None:
    """A symlink on main.cf.tmp is removed, never followed; a directory there is an error."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    tmp = main_cf.with_name("main.cf.tmp")
    tmp.symlink_to(victim)
    assert write_atomic(main_cf, NEW, expect=OLD).written
    assert victim.read_bytes() == b"precious\n" and not tmp.is_symlink()
    os.mkfifo(tmp)
    assert write_atomic(main_cf, OLD, expect=NEW).written
    tmp.mkdir()
    with pytest.raises(NotRegularFileError, match=r"main\.cf\.tmp: cannot use it as the edit lock file"):
        write_atomic(main_cf, NEW, expect=OLD)
    assert main_cf.read_bytes() == OLD


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileMissingError, match=r"main\.cf: does not exist"):
        read_file(tmp_path / "main.cf")


def test_permission_denied_without_root(tmp_path: Path) -> None:
    if is_root():
        pytest.skip("root bypasses permission bits; see test_files_processes (runs as nobody)")
    p = tmp_path / "main.cf"
    p.write_bytes(OLD)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="permission denied"):
            write_atomic(p, NEW, expect=None)
    finally:
        tmp_path.chmod(0o755)
    assert p.read_bytes() == OLD and listing(tmp_path) == {"main.cf"}


# -- secrets ---------------------------------------------------------------------------------------
def test_secret_new_file_is_0600_and_existing_is_tightened(tmp_path: Path) -> None:
    p = tmp_path / "sasl_passwd"
    old = os.umask(0)
    try:
        write_atomic(p, b"[smtp.example.com]:587 user:pw\n", expect=b"", secret=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    ensure_private(p)
    p.chmod(0o644)
    with pytest.raises(InsecureFileError, match="0644"):
        ensure_private(p)
    write_atomic(p, b"[smtp.example.com]:587 user:pw2\n", expect=None, secret=True)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_backup_of_secret_file_stays_private(tmp_path: Path) -> None:
    p = tmp_path / "sasl_passwd"
    write_atomic(p, b"a b:c\n", expect=b"", secret=True)
    r = write_atomic(p, b"a b:d\n", expect=None, secret=True, backup=True)
    assert r.backup is not None
    assert stat.S_IMODE(os.stat(r.backup).st_mode) == 0o600


def test_ensure_private_rejects_foreign_owner(tmp_path: Path) -> None:
    p = tmp_path / "sasl_passwd"
    p.write_bytes(b"a b\n")
    p.chmod(0o600)
    with pytest.raises(InsecureFileError, match="owned by uid"):
        ensure_private(p, owners=(12345,))
    with pytest.raises(NotRegularFileError):
        ensure_private(tmp_path)


@pytest.mark.postfix
def test_secure_compiled_map_after_real_postmap(tmp_path: Path) -> None:
    postmap = need_postfix(POSTMAP)
    src = tmp_path / "sasl_passwd"
    src.write_bytes(b"[smtp.example.com]:587 user:secret\n")
    src.chmod(0o644)  # a careless source: postmap copies its mode to the .db
    (tmp_path / "main.cf").write_bytes(b"")
    backdate(tmp_path / "main.cf")  # spec 2.8: no hot-file re-read delay
    proc = run_postfix_tool([postmap, "-c", str(tmp_path), f"hash:{src}"])
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "sasl_passwd.db"
    assert stat.S_IMODE(db.stat().st_mode) & 0o077  # readable by others before we fix it
    done = secure_compiled_map(src, uid=0 if is_root() else None)
    assert done == [str(db)]
    st = db.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    if is_root():
        assert st.st_uid == 0
    ensure_private(db)
    assert secure_compiled_map(db, uid=None) == [str(db)]
    with pytest.raises(FileMissingError, match="postmap"):
        secure_compiled_map(tmp_path / "nothing_compiled")
