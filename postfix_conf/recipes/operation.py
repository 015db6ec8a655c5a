"""One planned change, in words safe to print: secret values are never stored here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    file: str
    action: str  # set, delete, add-entry, update-entry, enable-service, add-service, set-option, ...
    target: str
    old: str | None = None
    new: str | None = None
    note: str = ""

    def __str__(self) -> str:
        if self.action == "set":
            text = f"{self.target}: {self.old!r} -> {self.new!r}" if self.old is not None \
                else f"{self.target} = {self.new}"
        elif self.action == "delete":
            text = f"remove {self.target} (was {self.old!r})"
        else:
            text = f"{self.action} {self.target}" + (f" = {self.new}" if self.new is not None else "")
        return text + (f"  ({self.note})" if self.note else "")
