"""Exceptions and diagnostics.

The parsers are total: they never raise on file content. Problems that Postfix
would report (or silently ignore) become :class:`Diagnostic` records. Exceptions
are reserved for *edits* that cannot be done safely and for I/O failures, so a
caller can always open, show and repair a broken file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a file, located by its first physical line (1-based)."""

    line: int
    severity: Severity
    code: str
    message: str
    path: str | None = None

    def __str__(self) -> str:
        where = f"{self.path or '<input>'}, line {self.line}"
        return f"{where}: {self.severity}: {self.message} [{self.code}]"


class PostfixConfError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidNameError(PostfixConfError, ValueError):
    """A parameter, service or key name that Postfix would not read back as given."""


class InvalidValueError(PostfixConfError, ValueError):
    """A value that cannot be written safely (newline, NUL, unbalanced braces...)."""


class MalformedEntryError(PostfixConfError):
    """The edit would have to go through an entry Postfix cannot read."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class AmbiguousEditError(PostfixConfError):
    """More than one candidate matches and the caller did not say which one."""


class NotFoundError(PostfixConfError, LookupError):
    """The named parameter, service, option or key does not exist."""


class ConcurrentModificationError(PostfixConfError):
    """The file changed on disk between reading and writing it."""


class LockTimeoutError(PostfixConfError):
    """Another editor (pfedit or postconf) held the file lock for too long."""


class FileWriteError(PostfixConfError, OSError):
    """A file could not be read or written; the original is intact."""
