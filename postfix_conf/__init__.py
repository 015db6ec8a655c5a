"""Lossless reading and editing of Postfix ``main.cf``, ``master.cf`` and lookup tables."""

from .document import Document
from .errors import (
    AmbiguousEditError,
    ConcurrentModificationError,
    Diagnostic,
    FileWriteError,
    InvalidNameError,
    InvalidValueError,
    LockTimeoutError,
    MalformedEntryError,
    NotFoundError,
    PostfixConfError,
)
from .main_cf import MainCf, Parameter

__all__ = [
    "AmbiguousEditError",
    "ConcurrentModificationError",
    "Diagnostic",
    "Document",
    "FileWriteError",
    "InvalidNameError",
    "InvalidValueError",
    "LockTimeoutError",
    "MainCf",
    "MalformedEntryError",
    "NotFoundError",
    "Parameter",
    "PostfixConfError",
]
