"""Test helper: write every task result, as a registered variable would hold it, to $PFEDIT_RECORD.

Results reach callbacks after Ansible's no_log censoring, so this file also shows
what a user could see with -v or `register`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pfedit_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[dict[str, Any]] = []

    def _record(self, result: Any, status: str) -> None:
        self.records.append({"task": result.task_name, "status": status, "result": dict(result._result)})

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        with open(os.environ["PFEDIT_RECORD"], "w", encoding="utf-8") as f:
            json.dump(self.records, f, default=str, indent=1)
