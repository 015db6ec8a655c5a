"""A write that fails at any step leaves every file as it was: through ``pfedit`` and Ansible.

Each scenario breaks one step of the pipeline for real (a map type this Postfix lacks,
a postmap that is killed, a main.cf postmap refuses, a full file system under the
compiled map, a reload that fails) and then checks the whole config directory byte by
byte, inode by inode, and that no temporary file is left, in the directory or in the
run's own TMPDIR (postmap's arguments show that the scratch directory was made there).
Before the pipeline, main.cf and the map source were committed before postmap ran, and
the live server pointed at a map it could not open.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import POSTCONF, POSTMAP, need_postfix
from .helpers_files import tmpfs
from .test_ansible import BIN, Collection, collection, config_copy, play, snapshot

__all__ = ["collection"]  # the module-scoped fixture, shared with test_ansible

PASSWORD = "Fa1lure-Secret"
SCENARIOS = ("unsupported-map-type", "postmap-killed", "postmap-refuses-main-cf", "disk-full-at-compiled-map",
             "reload-fails")


def shim(where: Path, name: str, script: str) -> Path:
    """A program ``name`` that wins over the real one on PATH (only for the failure it injects)."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return where


def private_tmp(tmp_path: Path) -> Path:
    """The run's TMPDIR, where the pipeline's scratch directory goes (so parallel tests cannot mix)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return tmp


def postmap_args(tmp_path: Path) -> str:
    log = tmp_path / "postmap-args"
    return log.read_text() if log.exists() else ""


@contextmanager
def scenario(name: str, tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any], Path, str]]:
    """(config dir, relay-auth options, PATH directory to put first, what the error must say)."""
    d = config_copy(tmp_path / "cfg")
    options: dict[str, Any] = {"relayhost": "[msa.example.jp]:587", "username": "home@example.jp"}
    bin_dir = tmp_path / "bin"
    record = f'echo "$@" >> {tmp_path / "postmap-args"}\n'  # every postmap run leaves its arguments
    shim(bin_dir, "postmap", record + ("kill -9 $$\n" if name == "postmap-killed" else f'exec {POSTMAP} "$@"\n'))
    if name == "unsupported-map-type":
        supported = subprocess.run([str(POSTCONF), "-c", str(d), "-m"], capture_output=True, text=True).stdout.split()
        if "cdb" in supported:
            pytest.skip("this Postfix supports cdb (postfix-cdb is installed)")
        yield d, options | {"map_type": "cdb"}, bin_dir, "does not support the map type 'cdb'"
    elif name == "postmap-killed":
        yield d, options, bin_dir, "killed by signal 9"
    elif name == "postmap-refuses-main-cf":
        # postconf -n accepts this main.cf; postmap stops on it (checked in the first assertion below).
        main = d / "main.cf"
        main.write_bytes(main.read_bytes() + b"smtputf8_enable = maybe\n")
        os.utime(main, (978307200, 978307200))
        yield d, options, bin_dir, "bad boolean configuration: smtputf8_enable = maybe"
    elif name == "disk-full-at-compiled-map":
        # The source (one page) fits; the compiled hash map (three pages) does not.
        with tmpfs(tmp_path / "small", size="8k") as small:
            yield d, options | {"password_map": str(small / "sasl_passwd")}, bin_dir, "no space left on device"
    else:
        status_ok = "case \"$3\" in status) exit 0;; check) echo 'postfix/postfix-script: fatal: " \
                    "injected check failure' >&2; exit 1;; esac\nexit 1\n"
        yield d, options | {"reload": True}, shim(bin_dir, "postfix", status_ok), "postfix check failed"


def cli(d: Path, options: dict[str, Any], path_first: Path, tmp_path: Path,
        tmp: Path) -> subprocess.CompletedProcess[str]:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    args = [sys.executable, "-m", "pfedit", "apply", "relay-auth", "--config-dir", str(d), "--relayhost",
            options["relayhost"], "--username", options["username"], "--password-file", str(pw), "--json"]
    for key in ("map_type", "password_map"):
        if key in options:
            args += ["--" + key.replace("_", "-"), options[key]]
    if options.get("reload"):
        args.append("--reload")
    env = {k: v for k, v in os.environ.items() if k not in ("MAIL_CONFIG", "PFEDIT_RELAY_PASSWORD")}
    env["PATH"] = f"{path_first}:{BIN}:/usr/sbin:/sbin:{os.environ.get('PATH', '')}"
    env["TMPDIR"] = str(tmp)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def everything(d: Path, options: dict[str, Any]) -> dict[str, Any]:
    snap: dict[str, Any] = dict(snapshot(d))
    if "password_map" in options:
        outside = Path(options["password_map"]).parent
        snap["<map dir>"] = sorted(p.name for p in outside.iterdir())
    return snap


def assert_scratch_gone(name: str, tmp_path: Path, tmp: Path) -> None:
    if name != "unsupported-map-type":  # refused before postmap runs
        assert f" {tmp}/pfedit-stage-" in postmap_args(tmp_path), postmap_args(tmp_path)
    assert list(tmp.iterdir()) == []  # the scratch directory is gone


@pytest.mark.parametrize("name", SCENARIOS)
def test_pfedit_apply_fails_without_a_trace(name: str, tmp_path: Path) -> None:
    need_postfix(POSTCONF)
    need_postfix(POSTMAP)
    with scenario(name, tmp_path) as (d, options, path_first, reason):
        before, tmp = everything(d, options), private_tmp(tmp_path)
        proc = cli(d, options, path_first, tmp_path, tmp)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert reason in proc.stderr, proc.stderr
        assert PASSWORD not in proc.stdout + proc.stderr
        result = json.loads(proc.stdout)  # --json: the fixed keys, with the error
        assert result["error"]["nothing_written"] is True and result["error"]["written"] == []
        assert result["written"] == [] and result["changed"] is True
        assert everything(d, options) == before  # same bytes, modes, inodes, mtimes; no .tmp, no backup
        assert_scratch_gone(name, tmp_path, tmp)


@pytest.mark.parametrize("name", SCENARIOS)
def test_postfix_relay_fails_without_a_trace(collection: Collection, name: str, tmp_path: Path) -> None:
    need_postfix(POSTCONF)
    need_postfix(POSTMAP)
    with scenario(name, tmp_path) as (d, options, path_first, reason):
        before, tmp = everything(d, options), private_tmp(tmp_path)
        relay = options | {"password": PASSWORD}
        done = play(collection, "relay.yml", tmp_path / "play", extra={"config_dir": str(d), "relay": relay},
                    path_first=path_first, env={"TMPDIR": str(tmp)})
        assert done.returncode != 0, done.output
        result = done.result("relay-auth")
        assert done.status("relay-auth") == "failed"
        assert reason in result["msg"], result["msg"]
        assert result["changed"] is False and result["written"] == []
        assert PASSWORD not in done.output + json.dumps(done.records)
        assert everything(d, options) == before
        assert_scratch_gone(name, tmp_path, tmp)


def test_postmap_really_refuses_that_main_cf(tmp_path: Path) -> None:
    """The premise of postmap-refuses-main-cf, from the real programs."""
    need_postfix(POSTCONF)
    need_postfix(POSTMAP)
    d = config_copy(tmp_path)
    (d / "main.cf").write_bytes((d / "main.cf").read_bytes() + b"smtputf8_enable = maybe\n")
    os.utime(d / "main.cf", (978307200, 978307200))
    (d / "t").write_text("a b\n")
    assert subprocess.run([str(POSTCONF), "-c", str(d), "-n"], capture_output=True).returncode == 0
    refused = subprocess.run([str(POSTMAP), "-c", str(d), f"hash:{d}/t"], capture_output=True, text=True)
    assert refused.returncode != 0 and "bad boolean" in refused.stderr
