#!/usr/bin/env python3
"""How fast pfedit is next to Postfix's own tools: every figure of issue 13, in one run.

Whole processes (rows 1-4) are timed as the user runs them, side by side: the two
commands of a row run alternately, ``--rounds`` times each after one untimed warm-up
run (which also caches the bytecode, as an installed package has it), and each
figure is the median of its runs. In-process figures (rows 5-6) are medians of
``--repeat`` runs, taken in turns in the same way. Nothing here is a pass/fail test:
the goals are printed next to the figures, and the exit status is 0 whatever they are.

1. ``MainCf.read(p).parameters()`` in a fresh ``python`` vs ``postconf -c DIR -n``,
   on a generated main.cf of 100k lines (about 3.5 MB).
2. ``python -c "import postfix_conf"`` vs ``python -c pass``.
3. ``pfedit get NAME`` vs a minimal two-command Typer app that reads the same main.cf
   (``examples/etc-postfix``) and prints its line count: what pfedit adds to Typer.
4. ``pfedit apply relay-auth --submission`` vs the same edits as a ``postconf -e``/
   ``-M``/``-P`` + ``postmap`` shell script, each on a fresh copy of
   ``examples/etc-postfix``; the password comes from a file in both, never argv. The
   bench checks once that both leave the same effective configuration, and also times
   the script with ``postmap`` first (before main.cf is fresh, see spec 2.8).
5. In-process parse + ``parameters()`` + serialise of the 100k-line file, in MB/s.
   ``parse`` alone splits nothing (nodes are made on first use), so the reading pass
   is counted in: parse + serialise alone, and the edit path, are shown beside it.
6. tracemalloc peak of parse + ``parameters()`` over the file size, and the time of
   1M lines over 100k lines (linear would be 10x).

For each whole-process figure the bench says how much of it is Python's own start
(``python -c pass``) and Typer's (``import typer``, a bare Typer app).

Usage: ``python bench/speed.py [--quick] [--rounds N] [--repeat N] [--keep DIR]``.
``--quick`` uses tiny files, one round and no warm-up: a smoke test that every row still runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "etc-postfix"
sys.path.insert(0, str(REPO))

from postfix_conf.main_cf import MainCf  # noqa: E402

BACKDATE = 978307200.0  # 2001-01-01: Postfix re-reads a main.cf changed within the last second (spec 2.8)
RELAYHOST = "[msa.example.jp]:587"
USERNAME = "me@example.jp"
PASSWORD = "bench s3cret"  # written to a 0600 file; both sides read it from there

# -- generated main.cf -------------------------------------------------------------------------------

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


def generate_main_cf(lines: int, seed: int = 1) -> bytes:
    """About ``lines`` physical lines of a valid main.cf: one-line and multi-line values
    (continuation lines, interior comments), comments, blank lines, repeated known names.

    User-defined names are listed in ``smtpd_restriction_classes`` at the end, which
    makes postconf count them as used (spec section 9) without ``$name`` chains, on
    which postconf gives up with "unreasonable macro call nesting".
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


def make_confdir(d: Path, main_cf: bytes, master_cf: bytes = b"") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, data in (("main.cf", main_cf), ("master.cf", master_cf)):
        (d / name).write_bytes(data)
        os.utime(d / name, (BACKDATE, BACKDATE))
    return d


def copy_examples(d: Path) -> Path:
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(EXAMPLES, d)
    for f in d.iterdir():
        os.utime(f, (BACKDATE, BACKDATE))
    return d


# -- whole-process timing ----------------------------------------------------------------------------

def child_env() -> dict[str, str]:
    """The user's environment: bytecode may be cached, Postfix tools on PATH, no MAIL_CONFIG."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "MAIL_CONFIG")}
    env["PATH"] = "/usr/sbin:/sbin:" + env.get("PATH", "/usr/bin:/bin")
    env["LANG"] = "C"
    return env


@dataclass
class Command:
    """One whole process: ``argv``, run after ``setup()`` (untimed); stdout kept when asked."""

    label: str
    argv: list[str]
    setup: Callable[[], object] | None = None
    keep_stdout: bool = False
    times: list[float] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def run(self, env: dict[str, str]) -> float:
        if self.setup is not None:
            self.setup()
        t0 = time.perf_counter()
        proc = subprocess.run(self.argv, env=env, capture_output=True, check=False, timeout=600)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{self.label}: exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-800:]}")
        if self.keep_stdout:
            self.outputs.append(proc.stdout.decode(errors="replace"))
        return elapsed

    @property
    def median(self) -> float:
        return statistics.median(self.times)


WARM_UP = True
TIMED: list[Command] = []


def alternate(commands: Sequence[Command], rounds: int, env: dict[str, str]) -> None:
    """One warm-up run each, then ``rounds`` rounds; the order rotates so none always goes first."""
    TIMED.extend(commands)
    for c in commands if WARM_UP else ():
        c.run(env)
        c.outputs.clear()
    for r in range(rounds):
        k = r % len(commands)
        for c in [*commands[k:], *commands[:k]]:
            c.times.append(c.run(env))


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def pfedit_argv() -> list[str]:
    script = Path(sys.executable).parent / "pfedit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pfedit"]


BARE_TYPER_APP = '''"""A minimal two-command Typer app: reads main.cf, prints its line count."""
from pathlib import Path

import typer

app = typer.Typer()


@app.command()
def get(name: str, config_dir: Path = typer.Option(..., "--config-dir", "-c")) -> None:
    typer.echo((config_dir / "main.cf").read_bytes().count(b"\\n"))


@app.command()
def other() -> None:
    typer.echo("other")


if __name__ == "__main__":
    app()
'''

SHELL_RELAY_AUTH = f"""# The edits of `pfedit apply relay-auth --submission` done with Postfix's own tools.
set -eu
D=$1 PASSWORD_FILE=$2
postconf -c "$D" -e 'relayhost = {RELAYHOST}' 'smtp_sasl_auth_enable = yes' \\
  "smtp_sasl_password_maps = hash:$D/sasl_passwd" 'smtp_sasl_security_options = noanonymous' \\
  'smtp_sasl_tls_security_options = noanonymous' 'smtp_tls_security_level = encrypt'
postconf -c "$D" -M 'submission/inet = submission inet n - n - - smtpd'
postconf -c "$D" -P 'submission/inet/syslog_name=postfix/submission' \\
  'submission/inet/smtpd_tls_security_level=encrypt' 'submission/inet/smtpd_sasl_auth_enable=yes' \\
  'submission/inet/smtpd_tls_auth_only=yes' 'submission/inet/smtpd_reject_unlisted_recipient=no' \\
  'submission/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject' \\
  'submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject' \\
  'submission/inet/milter_macro_daemon_name=ORIGINATING'
umask 077
{{ printf '%s %s:' '{RELAYHOST}' '{USERNAME}'; head -n 1 "$PASSWORD_FILE"; }} > "$D/sasl_passwd"
postmap -c "$D" "hash:$D/sasl_passwd"
"""


def map_first(script: str) -> str:
    """The same script with the map written and compiled before main.cf is edited."""
    lines = script.split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("postconf"))
    stop = next(i for i, ln in enumerate(lines) if ln.startswith("umask"))
    return "\n".join([*lines[:start], *lines[stop:-1], *lines[start:stop], ""])


def effective_config(postconf: str, d: Path, env: dict[str, str]) -> list[str]:
    """What Postfix reads from ``d``: ``postconf -n``, ``-M``, ``-P`` and the password map."""
    out: list[str] = []
    for flag in ("-n", "-M", "-P"):
        proc = subprocess.run([postconf, "-c", str(d), flag], env=env, capture_output=True, check=True)
        out += [f"{flag} {ln}" for ln in proc.stdout.decode().replace(str(d), "DIR").splitlines()]
    out.append("sasl_passwd: " + (d / "sasl_passwd").read_text().strip())
    out.append(f"sasl_passwd.db exists: {(d / 'sasl_passwd.db').exists()}")
    return sorted(out)


# -- in-process figures ------------------------------------------------------------------------------

def median_times(repeat: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median seconds of each function, run in turns (order rotating) so load changes hit all alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    items = list(fns.items())
    for r in range(repeat):
        k = r % len(items)
        for name, fn in [*items[k:], *items[:k]]:
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


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


def read_all(data: bytes) -> bytes:
    """Parse, read every parameter, serialise: the whole reading path, checked byte-exact."""
    doc = MainCf.parse(data)
    doc.parameters()
    out = doc.to_bytes()
    if out != data:
        raise AssertionError("round trip is not byte-exact")
    return out


def edit_one(data: bytes) -> bytes:
    doc = MainCf.parse(data)
    doc.set("myhostname", "bench.example")
    return doc.to_bytes()


# -- report ------------------------------------------------------------------------------------------

@dataclass
class Row:
    number: str
    what: str
    ours: str
    baseline: str
    figure: str
    goal: str
    met: bool | None
    notes: list[str] = field(default_factory=list)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def share(part: float, whole: float) -> str:
    return f"{ms(part)} ({100 * part / whole:.0f}%)"


def print_rows(rows: Sequence[Row]) -> None:
    headers = ["row", "what", "pfedit", "baseline", "figure", "goal", ""]
    table = [[r.number, r.what, r.ours, r.baseline, r.figure, r.goal,
              "-" if r.met is None else "met" if r.met else "MISSED"] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)).rstrip())
    print()
    for r in rows:
        for note in r.notes:
            print(f"[{r.number}] {note}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny files, one round, no warm-up: a smoke test")
    ap.add_argument("--rounds", type=int, help="alternating runs per whole-process command (default 15)")
    ap.add_argument("--repeat", type=int, help="runs per in-process figure (default 7)")
    ap.add_argument("--lines", type=int, help="lines of the main.cf of rows 1, 5, 6 (default 100000)")
    ap.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    ap.add_argument("--postconf", default=shutil.which("postconf") or "/usr/sbin/postconf")
    ap.add_argument("--postmap", default=shutil.which("postmap") or "/usr/sbin/postmap")
    args = ap.parse_args(argv)

    global WARM_UP
    WARM_UP = not args.quick
    rounds = args.rounds or (1 if args.quick else 15)
    repeat = args.repeat or (2 if args.quick else 7)
    lines = args.lines or (2_000 if args.quick else 100_000)
    postconf = args.postconf if Path(args.postconf).exists() else None
    postmap = args.postmap if Path(args.postmap).exists() else None
    env = child_env()
    root = args.keep or Path(tempfile.mkdtemp(prefix="pfedit-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return run(root, lines, rounds, repeat, postconf, postmap, env, args.quick)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, lines: int, rounds: int, repeat: int, postconf: str | None, postmap: str | None,
        env: dict[str, str], quick: bool) -> int:
    print(f"pfedit speed, issue 13: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; medians of {rounds} alternating whole-process runs, "
          f"{repeat} in-process runs" + (" (--quick: tiny files, figures meaningless)" if quick else ""))
    if postconf is None or postmap is None:
        print("postconf/postmap not found: rows 1 and 4 are skipped")
    data = generate_main_cf(lines)
    big = make_confdir(root / "big", data)
    main_big = str(big / "main.cf")
    size_mb = len(data) / 1e6
    physical = data.count(b"\n")
    size = f"{size_mb:.1f} MB, {physical // 1000}k lines"

    # Context: Python's and Typer's own start, postconf on the example directory.
    app = root / "bare_typer_app.py"
    app.write_text(BARE_TYPER_APP)
    examples = copy_examples(root / "examples")
    bare = Command("python -c pass", python("pass"))
    typer_import = Command("python -c 'import typer'", python("import typer"))
    context = [bare, typer_import]
    if postconf is not None:
        context.append(Command("postconf -n (example dir)", [postconf, "-c", str(examples), "-n"]))
    alternate(context, rounds, env)
    start = bare.median
    rows: list[Row] = []

    # Row 1.
    code = f"from postfix_conf import MainCf; MainCf.read({main_big!r}).parameters()"
    timed = ("import time; t0 = time.perf_counter(); from postfix_conf import MainCf; t1 = time.perf_counter(); "
             f"MainCf.read({main_big!r}).parameters(); t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")
    if postconf is not None:
        ours = Command("read+parameters", python(code))
        pc = Command("postconf -n", [postconf, "-c", str(big), "-n"])
        split = Command("read+parameters, timed inside", python(timed), keep_stdout=True)
        alternate([ours, pc, split], rounds, env)
        imp = statistics.median(float(o.split()[0]) for o in split.outputs)
        read = statistics.median(float(o.split()[1]) for o in split.outputs)
        rows.append(Row("1", f"MainCf.read(p).parameters() vs postconf -c DIR -n, {size}", ms(ours.median),
                        ms(pc.median), f"{ours.median / pc.median:.2f}x", "<= 1.0x", ours.median <= pc.median, [
                            f"of pfedit's {ms(ours.median)}: Python's own start {share(start, ours.median)}, "
                            f"import postfix_conf {share(imp, ours.median)}, read + parameters() "
                            f"{share(read, ours.median)} (the last two timed inside the process)"]))
    else:
        rows.append(Row("1", "MainCf.read(p).parameters() vs postconf -n", "-", "-", "skipped", "<= 1.0x", None))

    # Row 2.
    imp_cmd = Command("import postfix_conf", python("import postfix_conf"))
    pass_cmd = Command("python -c pass", python("pass"))
    alternate([imp_cmd, pass_cmd], rounds, env)
    ratio = imp_cmd.median / pass_cmd.median
    rows.append(Row("2", "python -c 'import postfix_conf' vs python -c pass", ms(imp_cmd.median),
                    ms(pass_cmd.median), f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5, [
                        f"of {ms(imp_cmd.median)}: Python's own start {share(pass_cmd.median, imp_cmd.median)}, "
                        f"the import {share(imp_cmd.median - pass_cmd.median, imp_cmd.median)}"]))

    # Row 3.
    get = Command("pfedit get", [*pfedit_argv(), "get", "myhostname", "-c", str(examples)])
    typer_app = Command("bare Typer app", [sys.executable, str(app), "get", "myhostname", "-c", str(examples)])
    alternate([get, typer_app], rounds, env)
    ratio = get.median / typer_app.median
    typer_start = typer_app.median - start
    rows.append(Row("3", "pfedit get NAME vs a bare two-command Typer app (example main.cf)", ms(get.median),
                    ms(typer_app.median), f"{ratio:.2f}x", "<= 1.1x", ratio <= 1.1, [
                        f"the bare Typer app is {typer_app.median / start:.1f}x python -c pass: Python's own start "
                        f"{share(start, typer_app.median)}, Typer's {share(typer_start, typer_app.median)} "
                        f"(import typer alone: {ms(typer_import.median - start)})",
                        f"of pfedit get's {ms(get.median)}: Python {share(start, get.median)}, Typer "
                        f"{share(typer_start, get.median)}, what pfedit adds "
                        f"{share(get.median - typer_app.median, get.median)}"]))

    # Row 4.
    if postconf is not None and postmap is not None:
        password_file = root / "password"
        password_file.write_text(PASSWORD + "\n")
        password_file.chmod(0o600)
        script = root / "relay_auth.sh"
        script.write_text(SHELL_RELAY_AUTH)
        ours_dir, shell_dir = root / "apply-pfedit", root / "apply-shell"
        apply_cmd = Command("pfedit apply", [*pfedit_argv(), "apply", "relay-auth", "--relayhost", RELAYHOST,
                                             "--username", USERNAME, "--password-file", str(password_file),
                                             "-c", str(ours_dir), "--submission"],
                            setup=lambda: copy_examples(ours_dir))
        shell_cmd = Command("postconf/postmap script", ["sh", str(script), str(shell_dir), str(password_file)],
                            setup=lambda: copy_examples(shell_dir))
        script_first = root / "relay_auth_map_first.sh"
        script_first.write_text(map_first(SHELL_RELAY_AUTH))
        first_dir = root / "apply-shell-map-first"
        first_cmd = Command("script, postmap first", ["sh", str(script_first), str(first_dir), str(password_file)],
                            setup=lambda: copy_examples(first_dir))
        alternate([apply_cmd, shell_cmd, first_cmd], rounds, env)
        same = (effective_config(postconf, ours_dir, env) == effective_config(postconf, shell_dir, env)
                == effective_config(postconf, first_dir, env))
        ratio = apply_cmd.median / shell_cmd.median
        rows.append(Row("4", "pfedit apply relay-auth --submission vs postconf -e/-M/-P + postmap",
                        ms(apply_cmd.median), ms(shell_cmd.median), f"{ratio:.2f}x", "<= 1.0x", ratio <= 1.0, [
                            f"of pfedit apply's {ms(apply_cmd.median)}: Python {share(start, apply_cmd.median)}, "
                            f"Typer {share(typer_start, apply_cmd.median)}; the script runs postconf 3 times "
                            "and postmap once",
                            f"postmap after postconf -e waits for main.cf to be a second old (Postfix re-reads a "
                            f"fresh main.cf, spec 2.8): the script with postmap first takes {ms(first_cmd.median)}, "
                            f"{apply_cmd.median / first_cmd.median:.1f}x less than pfedit apply",
                            "pfedit and both scripts leave the same effective configuration (postconf -n/-M/-P, "
                            "the map): " + ("yes" if same else "NO - the scripts are not equivalent any more")]))
    else:
        rows.append(Row("4", "pfedit apply relay-auth vs postconf/postmap", "-", "-", "skipped", "<= 1.0x", None))

    # Row 5.
    read_all(data)
    one_line = re.compile(r"([^\n]*+)\n?")
    t = median_times(repeat, {
        "full": lambda: read_all(data),
        "plain": lambda: MainCf.parse(data).to_bytes(),
        "nodes": lambda: (d := MainCf.parse(data), d.nodes, d.to_bytes()),
        "edit": lambda: edit_one(data),
        "lines_floor": lambda: one_line.split(data.decode("utf-8", "surrogateescape")),
        "split_floor": lambda: data.decode("utf-8", "surrogateescape").split("\n"),
    })
    full, plain, nodes, edit = t["full"], t["plain"], t["nodes"], t["edit"]
    lines_floor, split_floor = t["lines_floor"], t["split_floor"]
    rows.append(Row("5", f"parse + serialise, in process, {size}", f"{ms(plain)}", "", f"{size_mb / plain:.0f} MB/s",
                    ">= 150 MB/s", size_mb / plain >= 150, [
                        "parse splits nothing until something asks for nodes or values, and an unedited "
                        "document serialises as its input: this figure measures no reading work"]))
    rows.append(Row("5", f"parse + parameters() + serialise, in process, {size}", f"{ms(full)}", "",
                    f"{size_mb / full:.0f} MB/s", ">= 150 MB/s", size_mb / full >= 150, [
                        "the same with the reading pass counted (one regex scan that groups the lines and "
                        "cuts out every name and value)",
                        f"the edit path: parse + every node + serialise {size_mb / nodes:.0f} MB/s, "
                        f"parse + set() + serialise {size_mb / edit:.0f} MB/s",
                        f"for scale, on this machine: decode + one regex that only cuts the text into lines "
                        f"{size_mb / lines_floor:.0f} MB/s; decode + str.split at LF "
                        f"{size_mb / split_floor:.0f} MB/s"]))

    # Row 6.
    peak = peak_memory(lambda: MainCf.parse(data).parameters())
    peak_read = peak_memory(lambda: MainCf.read(main_big).parameters())
    peak_nodes = peak_memory(lambda: MainCf.parse(data).nodes)
    rows.append(Row("6", f"tracemalloc peak of parse + parameters() / file size, {size}", f"{peak / 1e6:.1f} MB",
                    f"{len(data) / 1e6:.1f} MB", f"{peak / len(data):.2f}x", "<= 3x", peak <= 3 * len(data), [
                        f"MainCf.read(path) + parameters() (the file's bytes counted too): "
                        f"{peak_read / len(data):.2f}x; parse + every node (the edit path): "
                        f"{peak_nodes / len(data):.2f}x"]))
    data10 = generate_main_cf(lines * 10)
    t = median_times(repeat, {"small": lambda: MainCf.parse(data).parameters(),
                              "large": lambda: MainCf.parse(data10).parameters(),
                              "split_small": lambda: data.decode("utf-8", "surrogateescape").split("\n"),
                              "split_large": lambda: data10.decode("utf-8", "surrogateescape").split("\n")})
    small_t, large_t = t["small"], t["large"]
    growth = large_t / small_t
    rows.append(Row("6", f"parse + parameters(): {lines * 10 // 1000}k lines over {lines // 1000}k lines",
                    ms(large_t), ms(small_t), f"{growth:.1f}x", "<= 12x", growth <= 12, [
                        f"per line: {small_t / lines * 1e9:.0f} ns at {lines // 1000}k lines, "
                        f"{large_t / (lines * 10) * 1e9:.0f} ns at {lines * 10 // 1000}k lines",
                        f"for scale, on this machine: decode + str.split at LF grows "
                        f"{t['split_large'] / t['split_small']:.1f}x over the same two files"]))

    print()
    print_rows(rows)
    print(f"\ncontext: python -c pass {ms(start)}; import typer {ms(typer_import.median)}"
          + (f"; postconf -c examples/etc-postfix -n {ms(context[2].median)}" if len(context) > 2 else "")
          + f"; load {os.getloadavg()[0]:.2f}")
    print("\ncommands (median, runs):")
    for c in TIMED:
        print(f"  {c.label}: {ms(c.median)}, {len(c.times)}: {shlex.join(c.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
