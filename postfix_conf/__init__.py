"""Lossless reading and editing of Postfix ``main.cf``, ``master.cf`` and lookup tables.

The public names are loaded on first use (``from postfix_conf import MainCf`` imports
``main_cf`` and what it needs, nothing else): a command that reads one file should not
pay for the write machinery, the checks or the recipes.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs more than this whole module
if TYPE_CHECKING:  # what each name is, for type checkers and for Ansible's import scanner
    from typing import Any

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
    from .files import (
        ConfigDir,
        DiskFullError,
        EditResult,
        FileAccessError,
        FileMissingError,
        Fingerprint,
        InsecureFileError,
        MissingDirectoryError,
        NotRegularFileError,
        PermissionDeniedError,
        ReadOnlyFileSystemError,
        Transaction,
        TransactionError,
        TransactionResult,
        WriteResult,
        edit_file,
        ensure_private,
        read_file,
        write_atomic,
        write_document,
    )
    from .main_cf import MainCf, Parameter
    from .maps import secure_compiled_map
    from .master_cf import MasterCf, Service
    from .table import Entry as TableEntry
    from .table import LookupTable, fold_key, split_credentials

_HOME = {
    "Document": "document",
    **dict.fromkeys(("AmbiguousEditError", "ConcurrentModificationError", "Diagnostic", "FileWriteError",
                     "InvalidNameError", "InvalidValueError", "LockTimeoutError", "MalformedEntryError",
                     "NotFoundError", "PostfixConfError"), "errors"),
    **dict.fromkeys(("ConfigDir", "DiskFullError", "EditResult", "FileAccessError", "FileMissingError", "Fingerprint",
                     "InsecureFileError", "MissingDirectoryError", "NotRegularFileError", "PermissionDeniedError",
                     "ReadOnlyFileSystemError", "Transaction", "TransactionError", "TransactionResult",
                     "WriteResult", "edit_file", "ensure_private", "read_file", "write_atomic", "write_document"),
                    "files"),
    "MainCf": "main_cf", "Parameter": "main_cf",
    "secure_compiled_map": "maps",
    "MasterCf": "master_cf", "Service": "master_cf",
    "LookupTable": "table", "fold_key": "table", "split_credentials": "table", "TableEntry": "table",
}

__all__ = [
    "AmbiguousEditError",
    "ConcurrentModificationError",
    "ConfigDir",
    "Diagnostic",
    "DiskFullError",
    "Document",
    "EditResult",
    "FileAccessError",
    "FileMissingError",
    "FileWriteError",
    "Fingerprint",
    "InsecureFileError",
    "InvalidNameError",
    "InvalidValueError",
    "LockTimeoutError",
    "LookupTable",
    "MainCf",
    "MalformedEntryError",
    "MasterCf",
    "MissingDirectoryError",
    "NotFoundError",
    "NotRegularFileError",
    "Parameter",
    "PermissionDeniedError",
    "PostfixConfError",
    "ReadOnlyFileSystemError",
    "Service",
    "TableEntry",
    "Transaction",
    "TransactionError",
    "TransactionResult",
    "WriteResult",
    "edit_file",
    "ensure_private",
    "fold_key",
    "read_file",
    "secure_compiled_map",
    "split_credentials",
    "write_atomic",
    "write_document",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), "Entry" if name == "TableEntry" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
