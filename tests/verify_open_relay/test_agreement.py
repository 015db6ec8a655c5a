"""``pfedit check`` and ``pfedit verify open-relay`` agree: on the smtpd scenarios and on the corpus.

Agreement, per smtpd: the live verdict equals ``relay_verdict(...).state`` of the
static check, except that "conditional" (open unless a table, policy service or SASL
server refuses) agrees with either live answer. Not comparable: a live "unknown"
(smtpd could not decide: a broken table, a missing service) and a live "fatal" that
is not the relay-restriction start-up check (e.g. no SASL mechanisms on this
machine). Where the two disagreed, the live answer was taken as right and the static
check was fixed (see test_open_relay.py, "where pfedit check was wrong").

The corpus run prepares each configuration with ``corpus.prepare`` and gives the same
directory to both tools. By default it covers every corpus configuration that
``pfedit check`` reports as relaying (open-relay, open-relay-conditional,
mynetworks-public-relay) and every 12th of the others; ``PFEDIT_VERIFY_CORPUS=all``
runs all of them (about six minutes; run ``-s`` to see the numbers).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from postfix_conf.check import check

from ..conftest import make_config_dir, need_corpus
from ..e2e.certs import CertFiles
from ..test_check_smtpd import MAIN as SCENARIO_MAIN
from ..test_check_smtpd import MAIN_MYNETWORKS, SCENARIOS, SUPPORT
from .conftest import run_verify
from .corpus import CorpusConfig, corpus_configs, prepare

pytestmark = [pytest.mark.e2e, pytest.mark.postfix, pytest.mark.root]

FULL = os.environ.get("PFEDIT_VERIFY_CORPUS") == "all"
RELAY_CODES = {"open-relay", "open-relay-conditional", "mynetworks-public-relay"}
CHUNK = 12  # scenarios per configuration (one sandbox each)


def compare(report: dict[str, Any], name: str, stats: Counter[str], disagreements: list[str]) -> None:
    for s in report["services"]:
        live, static = s["verdict"], s["check_verdict"]
        stats[f"live {live}"] += 1
        startup = live == "fatal" and "specify at least one working instance of" in (s["fatal"] or "")
        if live == "unknown" or (live == "fatal" and not startup):
            stats["not comparable"] += 1
            continue
        if live == static or (static == "conditional" and live in ("open", "closed")):
            stats["agree"] += 1
        else:
            stats["disagree"] += 1
            disagreements.append(f"{name} {s['service']}: live {live}, check {static}: {s['summary']}")


def scenario_config(d: Path, scenarios: list[dict[str, str]], first: int) -> Path:
    """The scenarios as services of one master.cf, on ports only (strangers reach them)."""
    main = SCENARIO_MAIN.format(d=d, mynetworks=MAIN_MYNETWORKS).replace("inet_interfaces = 127.0.0.1\n", "")
    lines = [SUPPORT]
    for k, options in enumerate(scenarios):
        opts = " ".join(f"-o {name}={value}" for name, value in options.items())
        lines.append(f"{20000 + first + k} inet n - n - - smtpd {opts}\n")
    return make_config_dir(d, main.encode(), "".join(lines).encode())


def test_agreement_on_the_smtpd_scenarios(verify_root: Path, sandbox_parent: Path) -> None:
    stats: Counter[str] = Counter()
    disagreements: list[str] = []
    for first in range(0, len(SCENARIOS), CHUNK):
        d = scenario_config(verify_root / f"scenarios-{first}", SCENARIOS[first:first + CHUNK], first)
        result = run_verify(d)
        assert result.exit_code in (0, 1) and result.stdout, result.stderr
        compare(result.report, f"scenarios {first}+", stats, disagreements)
    print(f"\nsmtpd scenarios: {dict(stats)}")
    assert disagreements == []
    assert stats["agree"] == len(SCENARIOS) and stats["live open"] and stats["live closed"] and stats["live fatal"]


def selected(configs: list[CorpusConfig], top: Path, certs: CertFiles) -> list[CorpusConfig]:
    """Every configuration ``pfedit check`` calls relaying, and every 12th of the others."""
    if FULL:
        return configs
    relaying = [c for c in configs if {f.code for f in check(prepare(
        c, top / "select" / c.name, certs, compile_maps=False))} & RELAY_CODES]
    others = [c for c in configs if c not in relaying]
    return relaying + others[::12]


def test_agreement_on_the_corpus(verify_root: Path, certs: CertFiles, sandbox_parent: Path) -> None:
    configs = corpus_configs()
    need_corpus([c.main for c in configs])
    top = verify_root / "corpus"
    stats: Counter[str] = Counter()
    disagreements: list[str] = []
    chosen = selected(configs, top, certs)
    for c in chosen:
        result = run_verify(prepare(c, top / c.name, certs))
        if not result.stdout:  # the sandbox did not start: a template placeholder, a field Postfix rejects
            stats["sandbox refused"] += 1
            continue
        compare(result.report, c.name, stats, disagreements)
    print(f"\ncorpus: {len(chosen)} of {len(configs)} configurations: {dict(stats)}")
    assert disagreements == [], "\n".join(disagreements)
    assert stats["agree"] >= len(chosen)  # most configurations have more than one smtpd
    assert stats["live open"] > 0 and stats["live closed"] > 0
