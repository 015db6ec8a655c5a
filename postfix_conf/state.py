"""pfedit's own record of what it changed, so that a recipe can be taken back.

``pfedit.state.json`` in the config directory, written in the same transaction as the
files it describes (so it is never out of step with them), mode 0600: it can hold a
value an edit replaced, and a replaced password map entry is a password. It is plain
JSON, documented in ``docs/state.md``; pfedit never shows it in a diff. When nothing is
recorded any more, the file is removed.
"""

from __future__ import annotations

import json
from typing import Any

from .document import Document
from .lines import split_nodes

STATE_FILE = "pfedit.state.json"
FORMAT = "pfedit-state/1"


class StateFile(Document):
    """The state document: a JSON object, ``{"format": ..., <recipe>: {...}}``."""

    __slots__ = ()

    def data(self) -> dict[str, Any]:
        text = self.dumps().strip()
        if not text:
            return {"format": FORMAT}
        try:
            found = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{self.path}: not pfedit state (invalid JSON: {exc}); move it away") from None
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise ValueError(f"{self.path}: not pfedit state of format {FORMAT}; move it away")
        return found

    def replace(self, data: dict[str, Any]) -> None:
        """Make ``data`` the content (keys sorted, so equal data gives equal bytes)."""
        text = json.dumps(data | {"format": FORMAT}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        self._replace_nodes(split_nodes(text))

    @property
    def empty(self) -> bool:
        return set(self.data()) <= {"format"}
