"""Safe writes on real, deliberately hostile mounts: a full tmpfs and a read-only one.

Root only (``mount``); each test skips with the reason when mounting is not possible.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from postfix_conf.files import DiskFullError, ReadOnlyFileSystemError, edit_file, write_atomic
from postfix_conf.main_cf import MainCf

from .helpers_files import listing, remount_ro, snapshot, tmpfs

pytestmark = pytest.mark.root

SMALL = b"myhostname = small.example\n" * 40  # ~1 KB


def test_full_disk_fails_cleanly_and_keeps_the_original(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", size="64k") as mnt:
        main = mnt / "main.cf"
        main.write_bytes(SMALL)
        before = snapshot(main)
        big = b"# " + b"x" * 200_000 + b"\n"  # three times the file system
        with pytest.raises(DiskFullError, match="no space left on device") as ei:
            write_atomic(main, big, expect=SMALL, backup=True)
        msg = str(ei.value)
        assert str(main) in msg and "left unchanged" in msg
        assert snapshot(main) == before
        assert listing(mnt) == {"main.cf"}  # no temp file, no backup
        # The failed attempt gave its space back: a normal edit still works.
        res = edit_file(main, MainCf.parse, lambda d: d.set("relayhost", "[r.example]"), backup=True)
        assert res.written and res.result.backup is not None
        assert listing(mnt) == {"main.cf", os.path.basename(res.result.backup)}


def test_full_disk_through_edit_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", size="64k") as mnt:
        main = mnt / "main.cf"
        main.write_bytes(SMALL)
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill the file system: no room left for a second copy of main.cf
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        before = snapshot(main)
        with pytest.raises(DiskFullError):
            edit_file(main, MainCf.parse, lambda d: d.set("mydomain", "x" * 20_000))
        assert snapshot(main) == before
        assert listing(mnt) == {"main.cf", "filler"}


def test_read_only_file_system(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", size="64k") as mnt:
        main = mnt / "main.cf"
        main.write_bytes(SMALL)
        remount_ro(mnt)
        before = snapshot(main)
        with pytest.raises(ReadOnlyFileSystemError, match=r"main.cf: cannot write: read-only file system"):
            write_atomic(main, SMALL + b"x = 1\n", expect=SMALL)
        with pytest.raises(ReadOnlyFileSystemError):
            edit_file(main, MainCf.parse, lambda d: d.set("x", "1"))
        assert snapshot(main) == before and listing(mnt) == {"main.cf"}
        # Nothing to change is not an error, even on read-only media.
        assert write_atomic(main, SMALL, expect=SMALL).written is False
