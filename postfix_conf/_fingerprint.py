"""What a file was when it was read, and the check that it still is (under the lock).

Shared by the single-file writers (:mod:`._writer`) and transactions
(:mod:`._transaction`); conflicts are decided on content, the identity fields
only make the message say *how* the file changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConcurrentModificationError

if TYPE_CHECKING:
    from ._staging import StagedFile


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a file was when it was read (content hash plus identity)."""

    st_dev: int
    st_ino: int
    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, st: os.stat_result, data: bytes) -> Fingerprint:
        return cls(st.st_dev, st.st_ino, len(data), st.st_mtime_ns, _sha256(data))

    def matches(self, data: bytes) -> bool:
        return len(data) == self.size and _sha256(data) == self.sha256


def _sha256(data: bytes) -> str:
    import hashlib  # on first use: OpenSSL's loading costs a read-only command milliseconds

    return hashlib.sha256(data).hexdigest()


def check_expect(sf: StagedFile, expect: Fingerprint | bytes | None) -> None:
    """Raise :class:`ConcurrentModificationError` unless the locked file is still ``expect``.

    ``expect`` is a :class:`Fingerprint`, the bytes read (``b""`` also matches a missing
    file), or None (no expectation: write unconditionally).
    """
    if expect is None:
        return
    current = sf.old
    if current is None:
        if isinstance(expect, bytes) and expect == b"":
            return
        raise ConcurrentModificationError(
            f"{sf.shown}: was removed since it was read; nothing was written")
    same = expect.matches(current) if isinstance(expect, Fingerprint) else current == expect
    if same:
        return
    how = "modified"
    if isinstance(expect, Fingerprint) and sf.orig_stat is not None:
        if (sf.orig_stat.st_dev, sf.orig_stat.st_ino) != (expect.st_dev, expect.st_ino):
            how = "replaced by another program (new inode)"
        else:
            how = "modified in place"
    raise ConcurrentModificationError(
        f"{sf.shown}: was {how} since it was read; nothing was written. "
        "Re-read the file and apply the edit again.")
