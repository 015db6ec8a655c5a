"""``check`` over the whole shared corpus: main.cf N paired with master.cf N, never a crash.

Run with ``-s`` to see the summary of findings by code. The corpus is read where it
lies (``PFEDIT_CORPUS``) and copied only into temporary directories.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from postfix_conf.check import CODES, check
from postfix_conf.check.findings import diagnostic_codes

from .conftest import corpus_files, make_config_dir, need_corpus

_STATIC = re.compile(r"^[ \t]*smtp_sasl_password_maps[ \t]*=.*static:([^\s,]+)", re.MULTILINE)


def test_check_runs_over_the_whole_corpus(tmp_path: Path) -> None:
    mains, masters = corpus_files("main.cf"), corpus_files("master.cf")
    need_corpus(mains)
    by_code: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    known = set(CODES) | set(diagnostic_codes())
    for i, main in enumerate(mains):
        data = main.read_bytes()
        d = make_config_dir(tmp_path / f"c{i:03d}", data, masters[i].read_bytes() if i < len(masters) else b"")
        findings = check(d)
        secrets = [m.group(1) for m in _STATIC.finditer(data.decode("utf-8", "replace"))]
        for f in findings:
            assert f.code in known, f
            assert f.line is None or f.line >= 1
            assert all(s not in f.message + f.fix for s in secrets), f
        by_code.update(f.code for f in findings)
        by_severity.update(f.severity for f in findings)
    summary = "\n".join(f"{n:5d}  {code}" for code, n in by_code.most_common())
    print(f"\ncheck over {len(mains)} corpus configurations: {dict(by_severity)}\n{summary}")
    assert sum(by_code.values()) > 0 and by_severity["error"] > 0 and by_severity["warning"] > 0
    assert {"open-relay", "unknown-parameter", "obsolete-parameter"} <= set(by_code), summary
