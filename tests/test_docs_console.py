"""The ``console`` examples in docs/ are run, in order, and must print what they show.

In each ```` ```console ```` block a line ``$ cmd`` is run with bash in a scratch
directory holding a copy of ``examples/etc-postfix`` as ``etc-postfix``; the lines
after it are expected output (each must appear as a whole line in stdout+stderr),
and ``[exit N]`` gives the expected status (default 0). Blocks of one page share the
directory, so a tutorial is run as a reader would follow it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import EXAMPLES, REPO, need_postfix

DOCS = sorted((REPO / "docs").glob("*.md"))
BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)
    status: int = 0


def steps(text: str) -> list[Step]:
    out: list[Step] = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append(Step(line[2:]))
            elif m := re.fullmatch(r"\[exit (\d+)\]", line):
                out[-1].status = int(m.group(1))
            elif line.strip():
                out[-1].expected.append(line.rstrip())
    return out


PAGES = [p for p in DOCS if "```console" in p.read_text()]


@pytest.mark.postfix
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_console_examples(page: Path, tmp_path: Path) -> None:
    need_postfix()
    shutil.copytree(EXAMPLES, tmp_path / "etc-postfix")
    for f in (tmp_path / "etc-postfix").iterdir():
        os.utime(f, (978307200, 978307200))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/sbin:/sbin:{env.get('PATH', '')}"
    env.pop("MAIL_CONFIG", None)
    env.pop("PFEDIT_RELAY_PASSWORD", None)
    todo = steps(page.read_text())
    assert todo, f"{page.name} has console blocks but no commands"
    for step in todo:
        proc = subprocess.run(["bash", "-c", step.command], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        output = [ln.rstrip() for ln in (proc.stdout + proc.stderr).splitlines()]
        where = f"{page.name}: $ {step.command}\n{proc.stdout}{proc.stderr}"
        assert proc.returncode == step.status, where
        missing = [ln for ln in step.expected if ln not in output]
        assert missing == [], where
