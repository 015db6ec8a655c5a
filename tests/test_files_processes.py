"""Safe writes across real processes: SIGKILL at random moments, concurrent writers
(pfedit and the real ``postconf -e``), lock exclusion, secrets under observation,
and errors seen by an unprivileged user or under a file-size limit.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from postfix_conf.errors import LockTimeoutError
from postfix_conf.files import DiskFullError, edit_file, write_atomic
from postfix_conf.main_cf import MainCf
from tests.conftest import POSTCONF, backdate, make_config_dir, run_postfix_tool

from .helpers_files import (
    SYSTEM_PYTHON,
    child_env,
    listing,
    need_root,
    run_python,
    try_write_in_child,
    world_dir,
)

# -- 1. crash safety ---------------------------------------------------------------------------
# A "zygote" imports the library once, then forks a writer per round on request; the
# test SIGKILLs the writer at a random moment and the zygote reaps it. Forking keeps a
# round at a few milliseconds, so hundreds of kills take seconds, not minutes.
ZYGOTE = r"""
import os, sys
from postfix_conf.files import write_atomic
path, a, b = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
out = sys.stdout
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "fork":
        pid = os.fork()
        if pid == 0:
            i = 0
            while True:
                write_atomic(path, a if i % 2 else b, expect=None)
                i += 1
        out.write(f"{pid}\n"); out.flush()
    elif cmd == "reap":
        _, status = os.waitpid(int(arg), 0)
        out.write(f"{status}\n"); out.flush()
    elif cmd == "quit":
        break
"""

KILLS = int(os.environ.get("PFEDIT_CRASH_KILLS", "300"))


def _content(n: int, tag: str) -> bytes:
    return "".join(f"param_{i:05d} = {tag}-{i}\n" for i in range(n)).encode()


def _leftover_state(tmp: Path) -> str:
    """Classify a leftover ``main.cf.tmp`` and check it is a reusable/removable lock file."""
    st = tmp.lstat()
    assert stat.S_ISREG(st.st_mode), "leftover .tmp must be a regular file"
    assert st.st_nlink == 1, "leftover .tmp must not be hard-linked"
    fd = os.open(tmp, os.O_RDONLY)
    try:  # nobody may hold it: the killed writer's lock died with it
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    return "reused (0600)" if stat.S_IMODE(st.st_mode) == 0o600 else "unlinked (not 0600)"


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_partial_file(tmp_path: Path) -> None:
    d = make_config_dir(tmp_path / "conf")
    main = d / "main.cf"
    a, b = _content(1500, "A"), _content(2500, "B")  # different sizes: truncation would show
    (tmp_path / "a").write_bytes(a)
    (tmp_path / "b").write_bytes(b)
    main.write_bytes(a)
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(main), str(tmp_path / "a"),
                               str(tmp_path / "b")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=child_env(), bufsize=1)
    assert zygote.stdin is not None and zygote.stdout is not None
    rng = random.Random(20240601)
    leftovers: dict[str, int] = {}
    flips = 0
    last = a
    started = time.monotonic()
    try:
        for _ in range(KILLS):
            zygote.stdin.write("fork\n")
            pid = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0, 0.012))
            os.kill(pid, signal.SIGKILL)
            zygote.stdin.write(f"reap {pid}\n")
            status = int(zygote.stdout.readline())
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
            now = main.read_bytes()
            assert now in (a, b), f"partial or empty main.cf after kill: {len(now)} bytes"
            flips += now != last
            last = now
            names = listing(d)
            assert names <= {"main.cf", "master.cf", "main.cf.tmp"}, names
            if "main.cf.tmp" in names:
                state = _leftover_state(d / "main.cf.tmp")
                leftovers[state] = leftovers.get(state, 0) + 1
        zygote.stdin.write("quit\n")
        zygote.stdin.flush()
        assert zygote.wait(10) == 0
    finally:
        if zygote.poll() is None:
            zygote.kill()
            zygote.wait()
    elapsed = time.monotonic() - started
    print(f"\n{KILLS} kills in {elapsed:.1f}s, content flips {flips}, leftover .tmp: {leftovers}")
    assert flips > 0, "the writer never completed a write: kills came too early to test anything"
    assert sum(leftovers.values()) > 0, "no kill landed inside the protocol window"
    # Postfix copes with whatever we left: postconf -e reuses or unlinks the .tmp ...
    if POSTCONF is not None:
        backdate(main)
        proc = run_postfix_tool([POSTCONF, "-c", str(d), "-e", "myhostname=after-crash.example"])
        assert proc.returncode == 0, proc.stderr
        assert listing(d) == {"main.cf", "master.cf"}
    # ... and so do we.
    (d / "main.cf.tmp").write_bytes(b"junk")  # as a crash after fchmod would leave it
    (d / "main.cf.tmp").chmod(0o644)
    res = edit_file(main, MainCf.parse, lambda doc: doc.set("relayhost", "[r.example]"))
    assert res.written and listing(d) == {"main.cf", "master.cf"}
    text = main.read_bytes()
    assert b"relayhost = [r.example]\n" in text
    assert POSTCONF is None or b"myhostname = after-crash.example\n" in text


# -- 2. concurrency with ourselves and with postconf -e ---------------------------------------------
PFEDIT_NAMES = ["default_process_limit", "duplicate_filter_limit", "header_size_limit", "hopcount_limit",
                "line_length_limit", "bounce_size_limit", "header_address_token_limit",
                "default_recipient_limit", "default_extra_recipient_limit", "deliver_lock_attempts"]
POSTCONF_NAMES = ["fork_attempts", "hash_queue_depth", "body_checks_size_limit",
                  "default_recipient_refill_limit", "initial_destination_concurrency",
                  "default_minimum_delivery_slots"]
ROUNDS = 4

PFEDIT_WORKER = r"""
import os, sys, time
from postfix_conf.files import edit_file
from postfix_conf.main_cf import MainCf
path, go, name, base = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
while not os.path.exists(go):
    time.sleep(0.001)
for k in range(int(sys.argv[5])):
    edit_file(path, MainCf.parse, lambda d: d.set(name, str(base + k)), lock_timeout=60)
"""

POSTCONF_WORKER = r"""
while [ ! -e "$2" ]; do sleep 0.001; done
for k in $(seq 0 $(($5 - 1))); do "$6" -c "$1" -e "$3=$(($4 + k))" || exit 1; done
"""


@pytest.mark.slow
def test_concurrent_pfedit_and_postconf_writers_lose_nothing(tmp_path: Path, postconf: str) -> None:
    d = make_config_dir(tmp_path / "conf", main_cf=b"# shared main.cf\nmyhostname = h.example\n")
    main = d / "main.cf"
    go = tmp_path / "go"
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    expected: dict[str, str] = {}
    for i, name in enumerate(PFEDIT_NAMES):
        base = 1000 + 100 * i
        expected[name] = str(base + ROUNDS - 1)
        procs.append((name, subprocess.Popen(
            [sys.executable, "-c", PFEDIT_WORKER, str(main), str(go), name, str(base), str(ROUNDS)],
            env=child_env(), stderr=subprocess.PIPE)))
    for i, name in enumerate(POSTCONF_NAMES):
        base = 5000 + 100 * i
        expected[name] = str(base + ROUNDS - 1)
        procs.append((name, subprocess.Popen(
            ["bash", "-c", POSTCONF_WORKER, "worker", str(d), str(go), name, str(base), str(ROUNDS),
             postconf],
            env=child_env(), stderr=subprocess.PIPE)))
    time.sleep(0.3)  # let every worker reach the start line
    started = time.monotonic()
    go.touch()
    for name, p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"{name}: {err.decode(errors='replace')}"
    elapsed = time.monotonic() - started
    print(f"\n{len(PFEDIT_NAMES)} pfedit + {len(POSTCONF_NAMES)} postconf processes x {ROUNDS} edits "
          f"in {elapsed:.2f}s")
    assert listing(d) == {"main.cf", "master.cf"}
    backdate(main)  # spec 2.8: avoid the hot-file re-read delay
    proc = run_postfix_tool([postconf, "-c", str(d), "-h", *expected])
    assert proc.returncode == 0, proc.stderr
    assert dict(zip(expected, proc.stdout.decode().split("\n"), strict=False)) == expected
    doc = MainCf.read(main)
    assert {n: doc.get(n) for n in expected} == expected
    assert doc.get("myhostname") == "h.example"
    assert not [dg for dg in doc.diagnostics if dg.severity == "error"]


# -- lock exclusion, both ways --------------------------------------------------------------------
def test_postconf_waits_for_our_lock(tmp_path: Path, postconf: str) -> None:
    d = make_config_dir(tmp_path / "conf", main_cf=b"myhostname = h.example\n")
    main = d / "main.cf"
    seen: dict[str, object] = {}

    def edit(doc: MainCf) -> None:
        p = subprocess.Popen([postconf, "-c", str(d), "-e", "relayhost=[pc.example]"], env=child_env(),
                             stderr=subprocess.PIPE)
        time.sleep(0.5)
        seen["blocked"] = p.poll() is None  # postconf is stuck on our flock of main.cf.tmp
        seen["proc"] = p
        doc.set("mydomain", "ours.example")

    edit_file(main, MainCf.parse, edit)
    p = seen["proc"]
    assert isinstance(p, subprocess.Popen)
    assert p.wait(30) == 0
    assert seen["blocked"] is True
    text = main.read_bytes()
    assert b"mydomain = ours.example\n" in text and b"relayhost = [pc.example]\n" in text
    assert listing(d) == {"main.cf", "master.cf"}


HOLD_LOCK = r"""
import sys, time
from postfix_conf._lock import acquire
lk = acquire(sys.argv[1] + ".tmp", time.monotonic() + 5)
print("locked", flush=True)
sys.stdin.readline()
lk.release(unlink=True)
"""


def test_lock_timeout_names_the_holder_and_changes_nothing(tmp_path: Path) -> None:
    main = tmp_path / "main.cf"
    main.write_bytes(b"a = 1\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(main)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=child_env())
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(LockTimeoutError, match=rf"main.cf.tmp: timed out.*process {holder.pid}"):
            write_atomic(main, b"a = 2\n", expect=None, lock_timeout=0.3)
        assert 0.3 <= time.monotonic() - t0 < 3
        assert main.read_bytes() == b"a = 1\n"
        assert (tmp_path / "main.cf.tmp").exists()  # the holder's lock file is left alone
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
    assert listing(tmp_path) == {"main.cf"}
    assert write_atomic(main, b"a = 2\n", expect=b"a = 1\n", lock_timeout=1).written


FLOCK_WRAPPER = r"""
import fcntl, subprocess, sys
main, postconf, conf = sys.argv[1:4]
fd = open(main, "rb")
fcntl.flock(fd, fcntl.LOCK_EX)  # like: flock /etc/postfix/main.cf postconf -e b=2
print("locked", flush=True)
sys.stdin.readline()
print(subprocess.call([postconf, "-c", conf, "-e", "b=2"]), flush=True)
"""


def test_script_holding_flock_on_main_cf_does_not_deadlock_us(tmp_path: Path, postconf: str) -> None:
    """Admins wrap ``flock main.cf postconf -e ...``. While we hold main.cf.tmp, that
    postconf waits for us and its wrapper holds main.cf's flock. Waiting for main.cf's
    flock (for the exchange) would deadlock, so after a short try we commit with a
    plain rename instead."""
    d = make_config_dir(tmp_path / "conf", main_cf=b"a = 1\n")
    main = d / "main.cf"
    wrapper = subprocess.Popen([sys.executable, "-c", FLOCK_WRAPPER, str(main), postconf, str(d)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env())
    assert wrapper.stdout is not None and wrapper.stdin is not None
    try:
        assert wrapper.stdout.readline().strip() == "locked"

        def edit(doc: MainCf) -> None:
            assert wrapper.stdin is not None
            wrapper.stdin.write("go\n")  # its postconf now blocks on our main.cf.tmp
            wrapper.stdin.flush()
            time.sleep(0.3)
            doc.set("c", "3")

        t0 = time.monotonic()
        res = edit_file(main, MainCf.parse, edit, lock_timeout=10)
        assert res.written and time.monotonic() - t0 < 5
        assert wrapper.stdout.readline().strip() == "0"  # postconf -e succeeded after us
    finally:
        wrapper.stdin.close()
        wrapper.wait(10)
    text = main.read_bytes()
    assert b"b = 2\n" in text and b"c = 3\n" in text
    assert listing(d) == {"main.cf", "master.cf"}


# -- 6. secrets are never visible with group/other bits ----------------------------------------------
OBSERVER = r"""
import json, os, stat, sys
d, stop = sys.argv[1], sys.argv[2]
seen = bad = 0
bad_names = []
while not os.path.exists(stop):
    try:
        names = os.listdir(d)
    except OSError:
        continue
    for n in names:
        if not n.startswith("sasl_passwd"):
            continue
        try:
            st = os.lstat(os.path.join(d, n))
        except FileNotFoundError:
            continue
        seen += 1
        if stat.S_IMODE(st.st_mode) & 0o077:
            bad += 1
            bad_names.append(f"{n} {stat.S_IMODE(st.st_mode):04o}")
print(json.dumps({"seen": seen, "bad": bad, "names": bad_names[:10]}))
"""

SECRET_ROUNDS = 200


def _setter(name: str, value: str) -> Callable[[MainCf], bool]:
    return lambda doc: doc.set(name, value)


@pytest.mark.slow
def test_secret_file_never_observable_with_group_or_other_bits(tmp_path: Path) -> None:
    d = tmp_path / "maps"
    d.mkdir()
    stop = tmp_path / "stop"
    obs = subprocess.Popen([sys.executable, "-c", OBSERVER, str(d), str(stop)], stdout=subprocess.PIPE,
                           text=True, env=child_env())
    path = d / "sasl_passwd"
    old_umask = os.umask(0)  # the worst case: nothing but our explicit modes protects the file
    try:
        time.sleep(0.2)
        for i in range(SECRET_ROUNDS):
            secret = f"[smtp{i}.example.com]:587 user{i}:pw{i}\n".encode()
            if i % 2:
                write_atomic(path, secret, expect=b"", secret=True)
            else:
                edit_file(path, MainCf.parse, _setter(f"k{i}", "v"), create=True, secret=True)
            write_atomic(path, secret + b"# rotated\n", expect=None, secret=True, backup=i % 10 == 0)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            for n in os.listdir(d):
                (d / n).unlink()
    finally:
        os.umask(old_umask)
        stop.touch()
        out, _ = obs.communicate(timeout=30)
    report = json.loads(out)
    print(f"\nobserver saw {report['seen']} directory entries during {SECRET_ROUNDS} creations")
    assert report["bad"] == 0, report["names"]
    assert report["seen"] > 0


# -- 7. errors seen by an unprivileged user ------------------------------------------------------------
@pytest.mark.root
def test_permission_denied_as_nobody(tmp_path: Path) -> None:
    need_root()
    d = world_dir("pfedit-perm-")
    try:
        main = d / "main.cf"
        main.write_bytes(b"a = 1\n")
        main.chmod(0o644)
        # root's directory, root's file: nobody may do nothing.
        out = try_write_in_child(main, "a = 2\n", python=SYSTEM_PYTHON, as_nobody=True)
        assert out["type"] == "PermissionDeniedError", out
        assert "PermissionError" in out["mro"]  # type: ignore[operator]
        assert str(main) in str(out["message"]) and "permission denied" in str(out["message"])
        # A world-writable file in root's directory: the rename would need the directory.
        main.chmod(0o666)
        out = try_write_in_child(main, "a = 2\n", python=SYSTEM_PYTHON, as_nobody=True)
        assert out["type"] == "PermissionDeniedError" and f"cannot create files in {d}" in str(out["message"])
        # nobody's directory, root's file made writable: we would lose the owner, so refuse.
        os.chown(d, 65534, 65534)
        out = try_write_in_child(main, "a = 2\n", python=SYSTEM_PYTHON, as_nobody=True)
        assert out["type"] == "PermissionDeniedError" and "cannot keep the owner 0:0" in str(out["message"])
        assert main.read_bytes() == b"a = 1\n" and main.stat().st_uid == 0
        assert listing(d) == {"main.cf"}
        # Sanity: nobody can write its own file there.
        main.unlink()
        out = try_write_in_child(main, "a = 3\n", python=SYSTEM_PYTHON, as_nobody=True)
        assert out == {"ok": True, "written": True}
        assert main.stat().st_uid == 65534 and listing(d) == {"main.cf"}
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=False)


def test_file_size_limit_gives_disk_full_error(tmp_path: Path) -> None:
    """RLIMIT_FSIZE in a child: write() fails with EFBIG half-way through the temp file."""
    main = tmp_path / "main.cf"
    main.write_bytes(b"a = 1\n")
    out = try_write_in_child(main, "x = " + "y" * 100_000 + "\n", fsize_limit=20_000)
    assert out["type"] == DiskFullError.__name__, out
    assert "file too large" in str(out["message"]) and str(main) in str(out["message"])
    assert "left unchanged" in str(out["message"])
    assert main.read_bytes() == b"a = 1\n"
    assert listing(tmp_path) == {"main.cf"}


def test_error_messages_are_one_line_for_the_cli(tmp_path: Path) -> None:
    proc = run_python("from postfix_conf.files import write_atomic\n"
                      "try:\n    write_atomic('/dev/null', b'x', expect=None)\n"
                      "except Exception as e:\n    print(e)\n")
    assert proc.stdout.strip() == "/dev/null: is a character device, not a regular file; nothing was written"
