"""What the three file kinds share: a mutable list of immutable nodes.

Serialising is ``"".join(node.raw)`` and nothing else, so an unedited document
gives back its input byte for byte, and an edit can only change the nodes it
replaces. Edits build the new node list completely before swapping it in, so a
failed edit leaves the document as it was. ``source`` is the baseline the
document was read from; ``diff()`` and ``changed`` compare against it.
"""

from __future__ import annotations

import difflib
import os
from typing import TypeVar

from ._text import decode, dominant_eol, encode, split_lines
from ._writer import read_file, write_document
from .errors import Diagnostic
from .lines import Node, line_numbers, split_nodes

StrPath = str | os.PathLike[str]
D = TypeVar("D", bound="Document")


class Document:
    """Base class of :class:`MainCf`, :class:`MasterCf` and :class:`LookupTable`."""

    __slots__ = ("_cache", "_nodes", "path", "source")

    def __init__(self, text: str, *, path: str | None = None, source: bytes | None = None) -> None:
        self._nodes: list[Node] = split_nodes(text)
        self.source: bytes = encode(text) if source is None else source
        self.path = path
        self._cache: object | None = None

    # -- construction ---------------------------------------------------------------
    @classmethod
    def parse(cls: type[D], data: bytes | str, *, path: StrPath | None = None) -> D:
        """Parse file content. Never raises on content: problems go to ``diagnostics``."""
        source = data if isinstance(data, bytes) else None
        return cls(decode(data), path=None if path is None else os.fspath(path), source=source)

    @classmethod
    def read(cls: type[D], path: StrPath) -> D:
        """Read and parse a regular file (through symlinks, bytes, no newline translation).

        The read is the same as the writers': a FIFO or device is refused instead of
        blocking, and a file rewritten in place while being read is read again.
        """
        data, _ = read_file(path)
        return cls.parse(data, path=path)

    # -- output ---------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(self._nodes)

    def dumps(self) -> str:
        return "".join([n.raw for n in self._nodes])

    def to_bytes(self) -> bytes:
        return encode(self.dumps())

    @property
    def changed(self) -> bool:
        """True when the content differs from what was parsed or last written."""
        return self.to_bytes() != self.source

    def diff(self, *, fromfile: str | None = None, tofile: str | None = None) -> str:
        """Unified diff from ``source`` to the current content (lossless text)."""
        name = self.path or "file"
        old = split_lines(decode(self.source))
        new = split_lines(self.dumps())
        lines = difflib.unified_diff(old, new, fromfile or f"a/{name}", tofile or f"b/{name}")
        return "".join(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n" for ln in lines)

    # -- helpers for subclasses ---------------------------------------------------------
    def _replace_nodes(self, nodes: list[Node]) -> None:
        self._nodes = nodes
        self._cache = None

    def _line_numbers(self) -> list[int]:
        return line_numbers(self._nodes)

    @property
    def eol(self) -> str:
        """The line ending new lines get: the file's dominant one."""
        return dominant_eol(self.dumps())

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return ()

    def _mark_written(self) -> None:
        """Make the current content the new baseline (after a successful write)."""
        self.source = self.to_bytes()

    def _with_final_newline(self, nodes: list[Node], eol: str) -> list[Node]:
        """Repair a missing final LF before appending (postconf < 3.11 glues lines)."""
        if nodes and not nodes[-1].raw.endswith("\n"):
            last = nodes[-1]
            nodes = [*nodes[:-1], Node(last.kind, last.raw + eol)]
        return nodes

    # -- writing --------------------------------------------------------------------------
    def write(self, path: StrPath | None = None, *, backup: bool = False, secret: bool = False) -> bool:
        """Write safely (see :mod:`postfix_conf.files`); return whether bytes were written.

        Nothing is written (same inode, same mtime) when the file already holds
        these bytes. ``secret`` creates a missing file 0600 from its first byte.
        """
        target = path if path is not None else self.path
        if target is None:
            raise ValueError("no path given and the document was not read from a file")
        return write_document(self, target, backup=backup, secret=secret)
