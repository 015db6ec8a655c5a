#!/usr/bin/env python3
"""Parser benchmark: pfedit vs the real postconf on synthetic main.cf / master.cf files.

Generates main.cf files of 10k, 100k and 1M lines (single-line parameters, multi-line
values with continuation lines and interior comments, comments, blank lines) and a
master.cf of 10k services, then measures, side by side:

* parse + serialise throughput of ``MainCf`` (MB/s; the output is checked byte-exact),
* parse + ``parameters()`` against ``postconf -c DIR -n`` on the same file (ratio),
* ``MasterCf`` parse + ``services()`` against ``postconf -c DIR -M`` (skipped with a
  message while ``postfix_conf.master_cf`` is not importable),
* memory: tracemalloc peak while parsing, divided by the file size,
* linearity: time per line for each size, and the per-line cost ratio largest/smallest.

``postconf -n`` only prints parameters it knows. User-defined ``bench_*`` names become
"used" (spec section 9) because ``smtpd_restriction_classes`` lists them all (``$name``
chains would hit postconf's macro nesting limit); known parameters are also defined
several times with different values (the last wins; postconf warns about each
override). The parameter count postconf prints is compared with ``len(parameters())``.
Generated files are back-dated to 2001 before postconf reads them (spec 2.8).

Usage: ``python bench/parse.py [--sizes 10k,100k,1M] [--quick] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from postfix_conf.main_cf import MainCf  # noqa: E402

BACKDATE = 978307200.0  # 2001-01-01
KNOWN_LIST_PARAMS = (
    "mydestination", "relay_domains", "mynetworks", "smtpd_recipient_restrictions",
    "smtpd_relay_restrictions", "smtpd_client_restrictions", "smtpd_helo_restrictions",
    "smtpd_sender_restrictions", "virtual_alias_maps", "transport_maps", "alias_maps",
    "header_checks", "smtp_tls_policy_maps", "sender_canonical_maps", "recipient_canonical_maps",
)
KNOWN_SCALAR_PARAMS = (
    ("myhostname", "mx{n}.example.com"), ("mydomain", "example{n}.com"),
    ("relayhost", "[relay{n}.example]:587"),
    ("message_size_limit", "{n}0240000"), ("smtpd_tls_security_level", "may"),
    ("smtp_tls_security_level", "encrypt"), ("inet_protocols", "ipv4"), ("compatibility_level", "3.6"),
)
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def human(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


# -- generators ----------------------------------------------------------------------------

def generate_main_cf(lines: int, seed: int = 1) -> bytes:
    """About ``lines`` physical lines of a realistic, valid main.cf (LF endings).

    User-defined names are listed in ``smtpd_restriction_classes`` at the end, which
    makes postconf count them as used (spec section 9) without ``$name`` chains:
    postconf expands references while it looks for used names and gives up with
    "unreasonable macro call nesting" on long chains.
    """
    rng = random.Random(seed)
    out: list[str] = []
    names: list[str] = []
    n = 0
    per_line = 8
    while len(out) + len(names) // per_line + 8 < lines:
        roll = rng.random()
        n += 1
        if roll < 0.10:
            out.append(f"# {rng.choice(WORDS)} {rng.choice(WORDS)}: comment {n} about the settings below")
        elif roll < 0.17:
            out.append("")
        elif roll < 0.55:
            name = f"bench_param_{n}"
            ref = " $myhostname" if rng.random() < 0.3 else ""
            out.append(f"{name} = {rng.choice(WORDS)}-{n} {rng.choice(WORDS)}{ref}")
            names.append(name)
        elif roll < 0.80:
            name = f"bench_list_{n}"
            out.append(f"{name} = $mydomain,")
            for i in range(rng.randint(2, 5)):
                if rng.random() < 0.15:
                    out.append("    # interior comment, skipped by the reader")
                out.append(f"    {rng.choice(WORDS)}{i}.example.com,")
            out.append(f"\t{rng.choice(WORDS)}.example.net")
            names.append(name)
        elif roll < 0.90:
            param = rng.choice(KNOWN_LIST_PARAMS)
            out.append(f"{param} = hash:/etc/postfix/{param}_{n},")
            out.append(f"    {rng.choice(WORDS)}.example.org")
        else:
            param, value = rng.choice(KNOWN_SCALAR_PARAMS)
            out.append(f"{param} = {value.format(n=n)}")
    out.append("# every user-defined name above is used as a restriction class")
    out.append("smtpd_restriction_classes =")
    for i in range(0, len(names), per_line):
        out.append("    " + ", ".join(names[i:i + per_line]) + ",")
    return ("\n".join(out) + "\n").encode()


def generate_master_cf(services: int, seed: int = 2) -> bytes:
    """A master.cf with ``services`` unique services (unix + inet), options and comments."""
    rng = random.Random(seed)
    out = ["# synthetic master.cf for the pfedit benchmark",
           "# service type  private unpriv  chroot  wakeup  maxproc command + args"]
    for n in range(services):
        if n % 10 == 0:
            out.append("")
            out.append(f"# ==== group {n // 10} ====")
        if n % 3 == 0:
            out.append(f"127.0.0.1:{10000 + n} inet  n       -       y       -       -       smtpd")
            out.append(f"  -o syslog_name=postfix/in{n}")
            out.append("  -o smtpd_tls_security_level=may")
        else:
            out.append(f"svc{n}      unix  -       -       y       -       {rng.randint(1, 20)}       smtp")
            out.append(f"  -o syslog_name=postfix/svc{n}")
            if rng.random() < 0.5:
                out.append("  -o smtp_helo_timeout=60s")
    return ("\n".join(out) + "\n").encode()


# -- measurement helpers ---------------------------------------------------------------------

def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_memory(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        keep = fn()
        _, peak = tracemalloc.get_traced_memory()
        del keep
    finally:
        tracemalloc.stop()
    return peak


@dataclass
class ToolRun:
    seconds: float
    stdout_lines: int
    stderr_lines: int


def run_postconf(postconf: str, confdir: Path, flag: str, repeat: int) -> ToolRun:
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
    env["LANG"] = "C"
    best = float("inf")
    result: subprocess.CompletedProcess[bytes] | None = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = subprocess.run([postconf, "-c", str(confdir), flag], capture_output=True, env=env,
                                check=False, timeout=3600)
        best = min(best, time.perf_counter() - t0)
        if best > 10:
            break  # postconf -M is quadratic in the number of services: one run is enough
    assert result is not None
    if result.returncode != 0:
        raise RuntimeError(f"postconf {flag} failed: {result.stderr.decode(errors='replace')[:500]}")
    return ToolRun(best, result.stdout.count(b"\n"), result.stderr.count(b"\n"))


def make_confdir(root: Path, name: str, main_cf: bytes, master_cf: bytes) -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "main.cf").write_bytes(main_cf)
    (d / "master.cf").write_bytes(master_cf)
    for f in ("main.cf", "master.cf"):
        os.utime(d / f, (BACKDATE, BACKDATE))  # spec 2.8: a fresh main.cf is re-read in a loop
    return d


def load_master_cf() -> Any:
    """``postfix_conf.master_cf.MasterCf``, or None while it is not importable yet."""
    try:
        from postfix_conf.master_cf import MasterCf
    except Exception as exc:  # ImportError, or a half-written module
        print(f"[master.cf] skipped: postfix_conf.master_cf.MasterCf is not importable yet ({exc!r})")
        return None
    return MasterCf


# -- the benchmark ---------------------------------------------------------------------------

@dataclass
class MainResult:
    lines: int
    size: int
    params: int
    roundtrip_s: float
    params_s: float
    postconf: ToolRun | None
    peak: int


def bench_main(root: Path, lines: int, postconf: str | None, repeat: int) -> MainResult:
    data = generate_main_cf(lines)
    real_lines = data.count(b"\n")
    confdir = make_confdir(root, f"main-{human(lines)}", data, b"")

    def roundtrip() -> None:
        if MainCf.parse(data).to_bytes() != data:
            raise AssertionError("round trip is not byte-exact")

    def params() -> dict[str, str]:
        return MainCf.parse(data).parameters()

    roundtrip()
    rt = best_of(repeat, roundtrip)
    pt = best_of(repeat, params)
    count = len(params())
    tool = run_postconf(postconf, confdir, "-n", repeat) if postconf else None
    expected = count + 1  # postconf -c DIR -n also prints config_directory = DIR
    if tool is not None and tool.stdout_lines != expected:
        print(f"  note: {human(lines)}: postconf -n printed {tool.stdout_lines} parameters, "
              f"expected {expected} (parameters() + config_directory)")
    peak = peak_memory(lambda: MainCf.parse(data).parameters())
    return MainResult(real_lines, len(data), count, rt, pt, tool, peak)


@dataclass
class MasterResult:
    services: int
    size: int
    ours_s: float
    roundtrip_s: float
    postconf: ToolRun | None
    peak: int


def bench_master(master_cls: Any, root: Path, services: int, postconf: str | None,
                 repeat: int) -> MasterResult:
    data = generate_master_cf(services)
    confdir = make_confdir(root, f"master-{human(services)}", b"compatibility_level = 3.6\n", data)

    def parse_services() -> Sequence[object]:
        result: Sequence[object] = master_cls.parse(data).services()
        return result

    def roundtrip() -> None:
        if master_cls.parse(data).to_bytes() != data:
            raise AssertionError("master.cf round trip is not byte-exact")

    count = len(parse_services())
    ours = best_of(repeat, parse_services)
    rt = best_of(repeat, roundtrip)
    tool = run_postconf(postconf, confdir, "-M", repeat) if postconf else None
    if tool is not None and tool.stdout_lines != count:
        print(f"  note: postconf -M printed {tool.stdout_lines} services, services() has {count}")
    peak = peak_memory(parse_services)
    return MasterResult(count, len(data), ours, rt, tool, peak)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*headers), sep, *(fmt.format(*r) for r in rows)])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="10k,100k,1M", help="main.cf sizes in lines (default 10k,100k,1M)")
    ap.add_argument("--services", default="10k", help="master.cf services (default 10k; 0 skips); "
                    "postconf -M is quadratic here: 10k services take it over a minute")
    ap.add_argument("--quick", action="store_true", help="one run per measurement, sizes 10k,100k")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3; 1 with --quick)")
    ap.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    ap.add_argument("--postconf", default=shutil.which("postconf") or "/usr/sbin/postconf")
    args = ap.parse_args(argv)

    sizes_text = "10k,100k" if args.quick and args.sizes == "10k,100k,1M" else args.sizes
    sizes = sorted(parse_size(s) for s in sizes_text.split(",") if s.strip())
    repeat = 1 if args.quick else max(1, args.repeat)
    postconf: str | None = args.postconf if Path(args.postconf).exists() else None
    if postconf is None:
        print("postconf not found: pfedit timings only")
    print(f"Python {sys.version.split()[0]}, best of {repeat}, sizes {', '.join(human(s) for s in sizes)}")

    root = args.keep or Path(tempfile.mkdtemp(prefix="pfedit-bench-"))
    try:
        results = []
        for size in sizes:
            print(f"  main.cf {human(size)} lines ...", flush=True)
            results.append(bench_main(root, size, postconf, repeat))
        services = parse_size(args.services)
        master_cls = load_master_cf() if services > 0 else None
        master = (bench_master(master_cls, root, services, postconf, repeat)
                  if master_cls is not None else None)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    print()
    print("main.cf: MainCf.parse + to_bytes (byte-exact) and MainCf.parse + parameters() vs postconf -n")
    rows = []
    for r in results:
        mb = r.size / 1e6
        pc = r.postconf
        rows.append([
            human(r.lines) if r.lines in sizes else f"{r.lines:,}", f"{mb:.1f}", f"{r.params:,}",
            ms(r.roundtrip_s), f"{mb / r.roundtrip_s:.1f}", ms(r.params_s),
            ms(pc.seconds) if pc else "-", f"{r.params_s / pc.seconds:.2f}x" if pc else "-",
            f"{pc.stdout_lines:,}" if pc else "-", f"{pc.stderr_lines:,}" if pc else "-",
            f"{r.peak / 1e6:.1f}", f"{r.peak / r.size:.1f}",
            f"{r.params_s / r.lines * 1e6:.2f}",
        ])
    print(table(["lines", "MB", "params", "rt ms", "rt MB/s", "params ms", "postconf ms", "ours/pc",
                 "pc -n out", "pc warn", "peak MB", "peak/size", "us/line"], rows))

    if len(results) >= 2:
        small, large = results[0], results[-1]
        per_small = small.params_s / small.lines
        per_large = large.params_s / large.lines
        rt_ratio = (large.roundtrip_s / large.lines) / (small.roundtrip_s / small.lines)
        print(f"\nlinearity: per-line cost {human(sizes[-1])}/{human(sizes[0])} = "
              f"{per_large / per_small:.2f} (parse+parameters), {rt_ratio:.2f} (parse+serialise); "
              "1.00 = perfectly linear")

    print()
    if master is None:
        print("master.cf: skipped" + (" (--services 0)" if services == 0 else
                                      " (postfix_conf.master_cf not importable yet)"))
    else:
        pc = master.postconf
        print("master.cf: MasterCf.parse + services() vs postconf -M")
        print(table(["services", "MB", "ours ms", "rt ms", "postconf ms", "ours/pc", "pc -M out",
                     "peak MB", "peak/size"],
                    [[f"{master.services:,}", f"{master.size / 1e6:.2f}", ms(master.ours_s),
                      ms(master.roundtrip_s), ms(pc.seconds) if pc else "-",
                      f"{master.ours_s / pc.seconds:.2f}x" if pc else "-",
                      f"{pc.stdout_lines:,}" if pc else "-",
                      f"{master.peak / 1e6:.1f}", f"{master.peak / master.size:.1f}"]]))
    print("\nrt = parse + serialise; ours/pc < 1 means pfedit is faster than postconf; "
          "peak = tracemalloc peak during parse (+ parameters()/services()).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
