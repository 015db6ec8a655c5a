"""The pfedit.postfix Ansible collection, built and installed the way a user would.

The collection is built once with ``ansible/build.py`` (which bundles postfix_conf),
installed into a temporary collections path, and driven with ``ansible-playbook -i
localhost, -c local`` against copies of ``examples/etc-postfix``. The playbooks are in
``tests/ansible/``; a small callback plugin there records every task result. Every
Ansible setting that could leak in from the machine (config file, home, temp dirs)
points into the test's temporary directory.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from postfix_conf import MainCf, MasterCf
from postfix_conf.table import LookupTable

from .conftest import EXAMPLES, POSTCONF, POSTMAP, REPO, make_config_dir, need_postfix, run_postfix_tool

pytest.importorskip("ansible", reason="ansible-core is not installed (pip install -e '.[test]')")
yaml: Any = importlib.import_module("yaml")  # comes with ansible-core; no type stubs needed

HERE = Path(__file__).resolve().parent
PLAYBOOKS = HERE / "ansible"
COLLECTION_SRC = REPO / "ansible"
BIN = Path(sys.executable).parent
MODULES = ("postfix_main", "postfix_master", "postfix_map", "postfix_relay")
FQCN = "pfedit.postfix."
PASSWORD = "Pr0vider-Secret"
OLD_PASSWORD = "0ld-Other-Secret"  # already in a map: Ansible's no_log does not know it

# ansible-test sanity tests that need neither network nor containers (the others install
# their requirements into fresh virtualenvs with a pip bootstrap downloaded from the net).
OFFLINE_SANITY = ("action-plugin-docs", "compile", "empty-init", "ignores", "line-endings", "no-assert",
                  "no-get-exception", "no-illegal-filenames", "no-smart-quotes", "replace-urlopen", "shebang",
                  "symlinks", "use-argspec-type-path", "use-compat-six")


# -- fixtures and helpers --------------------------------------------------------------------------
@dataclass
class Collection:
    base: Path
    tarball: Path
    installed: Path  # .../ansible_collections/pfedit/postfix
    tree: Path  # staged source tree .../ansible_collections/pfedit/postfix
    env: dict[str, str]


@dataclass
class Play:
    returncode: int
    stdout: str
    stderr: str
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def changed(self) -> int:
        m = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", self.stdout)
        assert m is not None, self.output
        return int(m.group(1))

    def result(self, task: str) -> dict[str, Any]:
        found = [r for r in self.records if r["task"] == task]
        assert len(found) == 1, (task, [r["task"] for r in self.records])
        result: dict[str, Any] = found[0]["result"]
        return result

    def status(self, task: str) -> str:
        return str(next(r["status"] for r in self.records if r["task"] == task))


def ansible_env(base: Path) -> dict[str, str]:
    """The environment of every Ansible command: nothing from the machine's Ansible set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "MAIL_CONFIG"}
    (base / "ansible.cfg").write_text("[defaults]\n")
    for d in ("home", "local-tmp", "remote-tmp"):
        (base / d).mkdir(exist_ok=True)
    env.update({
        "ANSIBLE_CONFIG": str(base / "ansible.cfg"),
        "ANSIBLE_HOME": str(base / "home"),
        "ANSIBLE_COLLECTIONS_PATH": str(base / "collections"),
        "ANSIBLE_LOCAL_TEMP": str(base / "local-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(base / "remote-tmp"),
        "ANSIBLE_CALLBACK_PLUGINS": str(PLAYBOOKS / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "pfedit_record",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": f"{BIN}:/usr/sbin:/sbin:{os.environ.get('PATH', '')}",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ next to tests/ansible/callback_plugins
    })
    return env


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Collection:
    base = tmp_path_factory.mktemp("ansible")
    env = ansible_env(base)
    proc = subprocess.run([sys.executable, str(COLLECTION_SRC / "build.py"), "--output-dir", str(base / "dist"),
                           "--install", str(base / "collections"), "--tree", str(base / "tree")],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarball, installed = (Path(line) for line in proc.stdout.split())
    return Collection(base, tarball, installed, base / "tree" / "ansible_collections" / "pfedit" / "postfix", env)


def play(col: Collection, playbook: str, workdir: Path, *flags: str, extra: dict[str, Any] | None = None,
         interpreter: str = sys.executable, path_first: Path | None = None, env: dict[str, str] | None = None) -> Play:
    """Run one of tests/ansible/*.yml; extra vars go through a file (the password never on argv)."""
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(list(workdir.glob("record-*.json")))
    vars_file, record = workdir / f"vars-{n}.json", workdir / f"record-{n}.json"
    vars_file.write_text(json.dumps(extra or {}))
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={interpreter}", "-e", f"@{vars_file}", *flags,
           str(PLAYBOOKS / playbook)]
    env = col.env | (env or {}) | {"PFEDIT_RECORD": str(record)}
    if path_first is not None:  # programs that must win over the real ones (failure injection)
        env["PATH"] = f"{path_first}:{env['PATH']}"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=workdir)
    records = json.loads(record.read_text()) if record.exists() else []
    return Play(proc.returncode, proc.stdout, proc.stderr, records)


def config_copy(where: Path) -> Path:
    d = where / "etc-postfix"
    shutil.copytree(EXAMPLES, d)
    for f in d.iterdir():
        os.utime(f, (978307200, 978307200))  # postconf re-reads a main.cf touched in the last second
    return d


Snapshot = dict[str, tuple[bytes, int, int, int]]


def snapshot(d: Path) -> Snapshot:
    """Every file under ``d``: content, mode, inode and mtime (an unchanged file was not rewritten)."""
    out: Snapshot = {}
    for p in sorted(d.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(d))] = (p.read_bytes(), stat.S_IMODE(st.st_mode), st.st_ino, st.st_mtime_ns)
    return out


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def postmap_dump(map_type: str, path: Path, config_dir: Path) -> str:
    """``postmap -s``, sorted (what the compiled map holds)."""
    need_postfix(POSTMAP)
    assert POSTMAP is not None
    out = run_postfix_tool([POSTMAP, "-c", str(config_dir), "-s", f"{map_type}:{path}"], check=True)
    return "".join(sorted(out.stdout.decode().splitlines(keepends=True)))


# -- the collection itself ------------------------------------------------------------------------
def test_build_bundles_the_library_and_leaves_the_source_tree_alone(collection: Collection) -> None:
    with tarfile.open(collection.tarball) as tar:
        names = set(tar.getnames())
    for module in MODULES:
        assert f"plugins/modules/{module}.py" in names
    assert "plugins/module_utils/pfedit_common.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    library = REPO / "postfix_conf"
    bundled = collection.installed / "plugins" / "module_utils" / "postfix_conf"
    for src in library.rglob("*.py"):
        rel = src.relative_to(library)
        assert f"plugins/module_utils/postfix_conf/{rel}" in names
        assert (bundled / rel).read_bytes() == src.read_bytes(), rel
    # the library has no package data files (AnsiballZ would not ship them): its facts are Python
    assert not [p for p in library.rglob("*") if p.is_file() and p.suffix not in (".py", ".typed")
                and "__pycache__" not in p.parts]
    # nothing was copied into the source tree, and what a developer copies there is ignored by git
    assert not (COLLECTION_SRC / "plugins" / "module_utils" / "postfix_conf").exists()
    if shutil.which("git") and (REPO / ".git").exists():
        for path in ("ansible/plugins/module_utils/postfix_conf/x.py", "ansible/dist/pfedit-postfix-0.1.0.tar.gz"):
            assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0, path


def test_collection_version_is_the_library_version() -> None:
    galaxy = yaml.safe_load((COLLECTION_SRC / "galaxy.yml").read_text())
    with (REPO / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert (galaxy["namespace"], galaxy["name"]) == ("pfedit", "postfix")
    assert galaxy["version"] == project["version"]


def test_ansible_doc_renders_every_module(collection: Collection) -> None:
    listing = subprocess.run([str(BIN / "ansible-doc"), "-l", "pfedit.postfix"], env=collection.env,
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert sorted(re.findall(r"^pfedit\.postfix\.(\w+)", listing.stdout, re.MULTILINE)) == sorted(MODULES)
    for module in MODULES:
        text = subprocess.run([str(BIN / "ansible-doc"), FQCN + module], env=collection.env,
                              capture_output=True, text=True, timeout=120)
        assert text.returncode == 0 and not text.stderr.strip(), text.stderr
        assert f"MODULE {FQCN}{module}" in text.stdout and "EXAMPLES:" in text.stdout
    docs = subprocess.run([str(BIN / "ansible-doc"), "-j", *(FQCN + m for m in MODULES)], env=collection.env,
                          capture_output=True, text=True, timeout=120)
    assert docs.returncode == 0, docs.stderr
    for name, entry in json.loads(docs.stdout).items():
        assert entry["doc"]["attributes"]["check_mode"]["support"] == "full", name
        assert entry["doc"]["attributes"]["diff_mode"]["support"] == "full", name
        assert {"reload_required", "operations", "findings"} <= set(entry["return"]), name
        for task in yaml.safe_load(entry["examples"]):
            assert name in task, (name, task)  # examples use the fully qualified name


def test_password_options_are_no_log(collection: Collection) -> None:
    docs = subprocess.run([str(BIN / "ansible-doc"), "-j", FQCN + "postfix_relay", FQCN + "postfix_map"],
                          env=collection.env, capture_output=True, text=True, timeout=120)
    entries = json.loads(docs.stdout)
    assert "password" in entries[FQCN + "postfix_relay"]["doc"]["options"]
    relay = (collection.installed / "plugins" / "modules" / "postfix_relay.py").read_text()
    table = (collection.installed / "plugins" / "modules" / "postfix_map.py").read_text()
    assert 'password=dict(type="str", no_log=True)' in relay  # required with state=present (required_if)
    assert 'entries=dict(type="dict", no_log=True)' in table


def test_map_type_choices_are_the_library_file_types() -> None:
    from postfix_conf.maps import FILE_TYPES as FILE_MAP_TYPES

    source = (COLLECTION_SRC / "plugins" / "modules" / "postfix_map.py").read_text()
    m = re.search(r'map_type=dict\(type="str", choices=(\[.*?\])\)', source)
    assert m is not None
    assert set(ast.literal_eval(m.group(1))) == set(FILE_MAP_TYPES)


def test_offline_sanity_tests_pass(collection: Collection, tmp_path: Path) -> None:
    """The ansible-test sanity tests that run without network (see OFFLINE_SANITY)."""
    args = [str(BIN / "ansible-test"), "sanity", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}"]
    for test in OFFLINE_SANITY:
        args += ["--test", test]
    env = collection.env | {"HOME": str(tmp_path)}  # ansible-test keeps its venvs under ~/.ansible/test
    proc = subprocess.run(args, cwd=collection.tree, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for test in OFFLINE_SANITY:
        assert f'Running sanity test "{test}"' in proc.stdout


def test_validate_modules(collection: Collection) -> None:
    """ansible-test's validate-modules (docs vs. argument specs), run directly with its requirements."""
    pytest.importorskip("voluptuous", reason="validate-modules needs voluptuous and antsibull-docs-parser")
    pytest.importorskip("antsibull_docs_parser", reason="validate-modules needs antsibull-docs-parser")
    ansible_test = importlib.import_module("ansible_test")
    sanity = Path(str(ansible_test.__file__)).parent / "_util" / "controller" / "sanity"
    script = sanity / "validate-modules" / "validate.py"
    galaxy = yaml.safe_load((collection.tree / "galaxy.yml").read_text())
    env = collection.env | {"ANSIBLE_COLLECTIONS_PATH": str(collection.tree.parents[2]),
                            "PYTHONPATH": os.pathsep.join([str(collection.tree.parents[2]), *sys.path])}
    proc = subprocess.run([sys.executable, str(script), "--format", "json", "--arg-spec", "--collection",
                           "ansible_collections/pfedit/postfix", "--collection-version", str(galaxy["version"]),
                           *(f"plugins/modules/{m}.py" for m in MODULES)],
                          cwd=collection.tree, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr
    version = ".".join(importlib.metadata.version("ansible-core").split(".")[:2])
    ignore_file = collection.tree / "tests" / "sanity" / f"ignore-{version}.txt"
    ignored = set()
    if ignore_file.exists():
        for line in ignore_file.read_text().splitlines():
            path, _, rest = line.partition(" ")
            test = rest.split("#")[0].strip()
            if test.startswith("validate-modules:"):
                ignored.add((path, test.split(":", 1)[1]))
    errors = [(path, e["code"], e["msg"]) for path, found in json.loads(proc.stdout).items()
              for e in found["errors"] if (path, e["code"]) not in ignored]
    assert errors == []


# -- postfix_main, postfix_master, postfix_map --------------------------------------------------
def expected_edits() -> tuple[bytes, bytes, bytes]:
    """What edit.yml must produce: the same calls on the library, in-process."""
    main = MainCf.read(EXAMPLES / "main.cf")
    main.set("relayhost", "[smtp.example.com]:587")
    main.set("smtp_sasl_auth_enable", "yes")
    main.set("message_size_limit", "52428800")
    main.delete("biff")
    master = MasterCf.read(EXAMPLES / "master.cf")
    master.enable("submission", "inet", which="last")
    master.set_option("submission", "inet", "smtpd_relay_restrictions", "permit_sasl_authenticated,reject")
    master.set_option("submission", "inet", "smtpd_sasl_auth_enable", "yes")
    master.delete_option("submission", "inet", "smtpd_reject_unlisted_recipient")
    master.add_service("dovecot", "unix", "-", "n", "n", "-", "-", "pipe",
                       args=["flags=DRhu", "user=vmail", "argv=/usr/lib/dovecot/deliver", "-f", "${sender}", "-d",
                             "${recipient}"])
    master.disable("uucp", "unix")
    master.remove("maildrop", "unix")
    table = LookupTable.parse(b"")
    table.set("example.org", "smtp:[mx.example.org]")
    table.set(".example.org", "smtp:[mx.example.org]")
    return main.to_bytes(), master.to_bytes(), table.to_bytes()


@pytest.mark.postfix
def test_edit_first_run_changes_with_diff_second_run_changes_nothing(collection: Collection, tmp_path: Path) -> None:
    need_postfix()
    d = config_copy(tmp_path)
    first = play(collection, "edit.yml", tmp_path, "--diff", extra={"config_dir": str(d)})
    assert first.returncode == 0, first.output
    assert first.changed == 7
    out = first.stdout
    assert f"--- before: {d}/main.cf" in out and f"+++ after: {d}/main.cf" in out
    for line in ("-relayhost =", "+relayhost = [smtp.example.com]:587", "-biff = no",
                 "-#submission inet n       -       n       -       -       smtpd",
                 "+submission inet n       -       n       -       -       smtpd",
                 "+#uucp      unix  -       n       n       -       -       pipe",
                 "+example.org smtp:********"):
        assert line in out, line
    assert "[mx.example.org]" not in out  # map values are masked like passwords (the part after "user:")
    main, master, table = expected_edits()
    assert (d / "main.cf").read_bytes() == main
    assert (d / "master.cf").read_bytes() == master
    assert (d / "transport").read_bytes() == table
    assert mode(d / "transport") == mode(d / "transport.db") == 0o644
    relay = first.result("Relay settings in main.cf")
    assert relay["changed"] and relay["reload_required"] and not relay["reloaded"]
    assert [op["target"] for op in relay["operations"]] == ["relayhost", "smtp_sasl_auth_enable", "message_size_limit"]
    assert relay["written"] == [str(d / "main.cf")]
    submission = first.result("Submission from the stock block, authenticated clients only")
    assert submission["operations"][0]["action"] == "enable-service"
    assert submission["service"]["options"]["smtpd_relay_restrictions"] == "permit_sasl_authenticated,reject"
    assert "smtpd_reject_unlisted_recipient" not in submission["service"]["options"]
    if importlib.util.find_spec("postfix_conf.check") is not None:  # then the modules must have used it
        warnings = [w for r in first.records for w in r["result"].get("warnings", [])]
        assert not [w for w in warnings if "could not run" in w], warnings
        # relayhost and SASL on, but no password map: check says so, with a fix (diagnostics have none)
        assert any(f["fix"] for f in relay["findings"]) and any(" -- fix: " in w for w in warnings), warnings
    transport = first.result("A transport map with exactly these routes")
    assert transport["postmap"] and transport["map"] == f"hash:{d}/transport"
    assert not transport["reload_required"]  # Postfix notices hash maps changing by itself

    before = snapshot(d)
    second = play(collection, "edit.yml", tmp_path, "--diff", extra={"config_dir": str(d)})
    assert second.returncode == 0, second.output
    assert second.changed == 0
    assert "--- before" not in second.stdout
    assert snapshot(d) == before  # not one file rewritten: same bytes, inodes and mtimes
    assert not any(r["result"].get("reload_required") for r in second.records)


@pytest.mark.postfix
def test_check_mode_writes_nothing_and_reports_what_would_change(collection: Collection, tmp_path: Path) -> None:
    need_postfix()
    d = config_copy(tmp_path)
    before = snapshot(d)
    checked = play(collection, "edit.yml", tmp_path, "--check", "--diff", extra={"config_dir": str(d)})
    assert checked.returncode == 0, checked.output
    assert checked.changed == 7
    assert "+relayhost = [smtp.example.com]:587" in checked.stdout
    assert snapshot(d) == before  # no byte, no new file (transport), no compiled map
    for record in checked.records:
        assert record["result"]["changed"] and record["result"]["written"] == []
    assert checked.result("Relay settings in main.cf")["reload_required"]
    # without --diff, no diff in the results
    quiet = play(collection, "edit.yml", tmp_path, "--check", extra={"config_dir": str(d)})
    assert quiet.returncode == 0 and quiet.changed == 7
    assert not any("diff" in r["result"] for r in quiet.records)


@pytest.mark.postfix
def test_failing_tasks_leave_every_file_intact(collection: Collection, tmp_path: Path) -> None:
    need_postfix()
    d = config_copy(tmp_path)
    before = snapshot(d)
    failed = play(collection, "fail.yml", tmp_path, "--diff", "-v", extra={"config_dir": str(d), "secret": PASSWORD})
    assert failed.returncode == 0, failed.output  # every failure is ignored_errors
    assert snapshot(d) == before
    assert [r["status"] for r in failed.records] == ["failed"] * 5
    messages = [str(r["result"]["msg"]) for r in failed.records]
    assert "broken $ reference" in messages[0]
    assert "3.1" in messages[1] and "quote the value" in messages[1]
    assert "list" in messages[2] and "quote the value" in messages[2]
    assert "nosuch/unix" in messages[3] and "command" in messages[3]
    assert "does not exist" in messages[4] and "nothing was written" in messages[4]
    assert not any(r["result"]["changed"] for r in failed.records)
    assert PASSWORD not in failed.output + json.dumps(failed.records)


@pytest.mark.postfix
def test_postfix_map_modes_postmap_staleness_and_removal(collection: Collection, tmp_path: Path) -> None:
    need_postfix()
    d = config_copy(tmp_path)
    (d / "sasl_passwd").write_text(f"# relay credentials\n[old.example.net]:587 olduser:{OLD_PASSWORD}\n")
    os.chmod(d / "sasl_passwd", 0o644)
    book = tmp_path / "map.yml"
    entries = {"[a.example.com]:587": f"alice:{PASSWORD}", "[B.example.com]:587": "bob:pw-B"}
    book.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "credentials", "pfedit.postfix.postfix_map": {
                "config_dir": str(d), "path": "sasl_passwd", "entries": entries, "exclusive": True}},
            {"name": "texthash", "pfedit.postfix.postfix_map": {
                "config_dir": str(d), "path": str(d / "virtual"), "map_type": "texthash",
                "entries": {"info@example.com": "alice"}}},
        ]}], sort_keys=False))
    first = play(collection, str(book), tmp_path, "--diff")
    assert first.returncode == 0, first.output
    assert first.changed == 2
    creds = first.result("credentials")
    assert [(op["action"], op["target"]) for op in creds["operations"]] == [
        ("add-entry", "[a.example.com]:587"), ("add-entry", "[B.example.com]:587"),
        ("delete-entry", "[old.example.net]:587")]
    assert creds["postmap"] and creds["map"] == f"hash:{d}/sasl_passwd"
    assert mode(d / "sasl_passwd") == mode(d / "sasl_passwd.db") == 0o600
    assert "# relay credentials\n" in (d / "sasl_passwd").read_text()
    assert f"{d}/sasl_passwd (attributes)" in first.stdout  # the mode change is in the diff
    assert "-[old.example.net]:587 olduser:********" in first.stdout
    assert OLD_PASSWORD not in first.output + json.dumps(first.records)
    assert PASSWORD not in first.output + json.dumps(first.records)
    assert "alice:" + PASSWORD in postmap_dump("hash", d / "sasl_passwd", d)
    text = first.result("texthash")
    assert text["reload_required"] and not text["postmap"] and not (d / "virtual.db").exists()
    assert mode(d / "virtual") == 0o600

    again = play(collection, str(book), tmp_path)
    assert again.returncode == 0 and again.changed == 0, again.output

    # a compiled map older than its source, and too open: --check says so and touches nothing
    past = (d / "sasl_passwd").stat().st_mtime - 60
    os.utime(d / "sasl_passwd.db", (past, past))
    os.chmod(d / "sasl_passwd.db", 0o644)
    before = snapshot(d)
    checked = play(collection, str(book), tmp_path, "--check")
    assert checked.returncode == 0 and checked.changed == 1, checked.output
    assert [op["action"] for op in checked.result("credentials")["operations"]] == ["postmap"]
    assert snapshot(d) == before
    repaired = play(collection, str(book), tmp_path)
    assert repaired.returncode == 0 and repaired.changed == 1, repaired.output
    assert repaired.result("credentials")["postmap"]
    assert mode(d / "sasl_passwd.db") == 0o600
    assert (d / "sasl_passwd.db").stat().st_mtime >= (d / "sasl_passwd").stat().st_mtime

    book.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "forget B", "pfedit.postfix.postfix_map": {
                "config_dir": str(d), "path": "sasl_passwd", "keys": ["[b.example.com]:587"], "state": "absent"}},
        ]}], sort_keys=False))
    removed = play(collection, str(book), tmp_path)
    assert removed.returncode == 0 and removed.changed == 1, removed.output
    assert "[B.example.com]" not in (d / "sasl_passwd").read_text()  # keys match case-folded, like postmap
    assert "bob:" not in postmap_dump("hash", d / "sasl_passwd", d)


# -- postfix_relay == pfedit apply relay-auth ------------------------------------------------------
SCENARIOS: dict[str, dict[str, Any]] = {
    "587-submission": {"relayhost": "[msa.example.jp]:587", "username": "home@example.jp", "submission": True},
    "465-btree-own-map": {"relayhost": "[smtp.example.net]:465", "username": "home@example.jp",
                          "mechanisms": "PLAIN, LOGIN", "password_map": "sasl/passwd", "map_type": "btree"},
}


def cli_args(options: dict[str, Any], d: Path, password_file: Path) -> list[str]:
    args = [sys.executable, "-m", "pfedit", "apply", "relay-auth", "--config-dir", str(d),
            "--relayhost", options["relayhost"], "--username", options["username"],
            "--password-file", str(password_file), "--json"]
    for name in ("mechanisms", "map_type"):
        if name in options:
            args += ["--" + name.replace("_", "-"), options[name]]
    if "password_map" in options:
        args += ["--password-map", str(d / options["password_map"])]
    if options.get("submission"):
        args.append("--submission")
    return args


def prepare(d: Path, options: dict[str, Any]) -> None:
    """Both copies start the same: for the 465 case, a strong TLS level and a map with another entry."""
    if "password_map" in options:
        (d / "sasl").mkdir()
        (d / options["password_map"]).write_text(f"[old.example.net]:587 olduser:{OLD_PASSWORD}\n")
        os.chmod(d / options["password_map"], 0o600)
        main = MainCf.read(d / "main.cf")
        main.set("smtp_tls_security_level", "verify")
        (d / "main.cf").write_bytes(main.to_bytes())
        os.utime(d / "main.cf", (978307200, 978307200))


def same_tree(a: Path, b: Path) -> None:
    """Byte-identical after replacing each directory's path by DIR; compiled maps compared by content."""
    files_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    files_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        pa, pb = a / rel, b / rel
        assert mode(pa) == mode(pb), rel
        if rel.endswith(".db"):
            kind = "btree" if "sasl/" in rel else "hash"
            source = rel.removesuffix(".db")
            assert postmap_dump(kind, a / source, a).replace(str(a), "DIR") == \
                postmap_dump(kind, b / source, b).replace(str(b), "DIR")
            continue
        assert pa.read_bytes().replace(str(a).encode(), b"DIR") == pb.read_bytes().replace(str(b).encode(), b"DIR"), rel


@pytest.mark.postfix
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_postfix_relay_gives_the_same_bytes_as_the_cli(collection: Collection, tmp_path: Path, scenario: str) -> None:
    need_postfix()
    need_postfix(POSTMAP)
    options = SCENARIOS[scenario]
    mod_dir, cli_dir = config_copy(tmp_path / "module"), config_copy(tmp_path / "cli")
    prepare(mod_dir, options)
    prepare(cli_dir, options)
    relay = dict(options, password=PASSWORD)  # a relative password_map is inside config_dir (the CLI gets it absolute)
    first = play(collection, "relay.yml", tmp_path / "module", "--diff", extra={"config_dir": str(mod_dir),
                                                                                "relay": relay})
    assert first.returncode == 0, first.output
    assert first.changed == 1

    password_file = tmp_path / "cli" / "password"
    password_file.write_text(PASSWORD + "\n")
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"} | {
        "PATH": f"{BIN}:/usr/sbin:/sbin:{os.environ.get('PATH', '')}"}
    cli = subprocess.run(cli_args(options, cli_dir, password_file), capture_output=True, text=True, env=env,
                         timeout=120)
    assert cli.returncode == 0, cli.stderr
    password_file.unlink()
    same_tree(mod_dir, cli_dir)

    result = first.result("relay-auth")
    cli_json = json.loads(cli.stdout)

    def portable(ops: list[dict[str, Any]], d: Path) -> str:
        return json.dumps(ops, sort_keys=True).replace(str(d), "DIR")

    assert portable(result["operations"], mod_dir) == portable(cli_json["operations"], cli_dir)
    assert result["password_map"].replace(str(mod_dir), "DIR") == cli_json["password_map"].replace(str(cli_dir), "DIR")
    assert result["postmap"] == cli_json["postmap"] is True
    assert result["reload_required"] and not result["reloaded"]
    assert "reload_required=True" in first.stdout
    assert "+relayhost = " + options["relayhost"] in first.stdout
    assert f"home@example.jp:{PASSWORD}" not in first.output
    assert "home@example.jp:********" in first.stdout
    assert OLD_PASSWORD not in first.output + json.dumps(first.records)

    before = snapshot(mod_dir)
    second = play(collection, "relay.yml", tmp_path / "module", "--diff", extra={"config_dir": str(mod_dir),
                                                                                 "relay": relay})
    assert second.returncode == 0 and second.changed == 0, second.output
    assert snapshot(mod_dir) == before
    assert not second.result("relay-auth")["reload_required"]


@pytest.mark.postfix
def test_relay_check_diff_never_shows_a_password(collection: Collection, tmp_path: Path) -> None:
    need_postfix()
    d = config_copy(tmp_path)
    (d / "sasl_passwd").write_text(f"[old.example.net]:587 olduser:{OLD_PASSWORD}\n")
    os.chmod(d / "sasl_passwd", 0o600)
    relay = {"relayhost": "[msa.example.jp]:587", "username": "home@example.jp", "password": PASSWORD,
             "submission": True, "backup": True}
    before = snapshot(d)
    checked = play(collection, "relay.yml", tmp_path, "--check", "--diff", "-vvv",
                   extra={"config_dir": str(d), "relay": relay})
    assert checked.returncode == 0, checked.output
    assert checked.changed == 1
    assert snapshot(d) == before
    seen = checked.output + json.dumps(checked.records)
    assert PASSWORD not in seen and OLD_PASSWORD not in seen
    assert " olduser:********" in checked.stdout  # a context line of the map: masked by the module itself
    assert "+[msa.example.jp]:587 home@example.jp:********" in checked.stdout
    assert "+submission inet n" in checked.stdout

    applied = play(collection, "relay.yml", tmp_path, "--diff", "-vvv", extra={"config_dir": str(d), "relay": relay})
    assert applied.returncode == 0, applied.output
    seen = applied.output + json.dumps(applied.records)
    assert PASSWORD not in seen and OLD_PASSWORD not in seen
    result = applied.result("relay-auth")
    assert set(result["backups"]) == {str(d / "main.cf"), str(d / "master.cf"), str(d / "sasl_passwd")}


# -- a managed host with nothing but Python -------------------------------------------------------
@pytest.fixture
def bare_python(tmp_path: Path) -> Iterator[str]:
    """A Python without pfedit, postfix_conf or any other package installed."""
    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "bare"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    probe = subprocess.run([python, "-I", "-c", "import postfix_conf"], capture_output=True, cwd=tmp_path)
    assert probe.returncode != 0
    yield python


@pytest.mark.postfix
def test_modules_run_on_a_host_with_only_python(collection: Collection, tmp_path: Path, bare_python: str) -> None:
    need_postfix()
    d = config_copy(tmp_path)
    (d / "main.cf").write_bytes((d / "main.cf").read_bytes() + b"myorigin = $mydomain\n")  # a diagnostic
    done = play(collection, "edit.yml", tmp_path, extra={"config_dir": str(d)}, interpreter=bare_python)
    assert done.returncode == 0, done.output
    assert done.changed == 7
    _, master, table = expected_edits()
    assert (d / "master.cf").read_bytes() == master and (d / "transport").read_bytes() == table
    # main.cf's diagnostics need the library's data files, which AnsiballZ does not ship as such
    findings = done.result("Relay settings in main.cf")["findings"]
    assert any(f["code"] in ("duplicate-parameter-same-value", "main-duplicate-parameter-same-value")
               for f in findings), findings


@pytest.mark.postfix
def test_findings_use_the_installed_version_even_with_a_broken_master_cf(collection: Collection,
                                                                          tmp_path: Path) -> None:
    """postconf -c DIR stops on this master.cf; the version must not silently fall back to 3.7."""
    need_postfix()
    d = config_copy(tmp_path)
    with (d / "master.cf").open("a") as f:
        f.write("broken inet n -\n")  # bad field count: postconf -c DIR ... exits 1
    assert run_postfix_tool([str(POSTCONF), "-c", str(d), "-d", "-h", "mail_version"]).returncode != 0
    empty = make_config_dir(tmp_path / "empty")
    installed = run_postfix_tool([str(POSTCONF), "-c", str(empty), "-d", "-h", "mail_version"], check=True)
    done = play(collection, "edit.yml", tmp_path, extra={"config_dir": str(d)})
    result = done.result("Relay settings in main.cf")
    assert result["postfix_version"] == installed.stdout.decode().strip()
    assert "version is unknown" not in done.output


def accounts_book(path: Path, d: Path, accounts: list[dict[str, Any]]) -> Path:
    """One postfix_relay task per account; passwords come from the extra vars (never in the playbook)."""
    tasks = []
    for n, options in enumerate(accounts):
        args = {"config_dir": str(d)} | {k: v for k, v in options.items() if k != "password"}
        if "password" in options:
            args["password"] = f"{{{{ secret_{n} }}}}"
        tasks.append({"name": f"account {n}", "pfedit.postfix.postfix_relay": args})
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], sort_keys=False))
    return path


@pytest.mark.postfix
def test_postfix_relay_accounts_added_and_taken_back(collection: Collection, tmp_path: Path) -> None:
    """sender, rewrite_sender and state: present/absent; check mode, a diff without secrets, changed once
    then 0, and removing every account gives back the original bytes."""
    need_postfix()
    need_postfix(POSTMAP)
    d = config_copy(tmp_path)
    original = snapshot(d)
    secrets = {"secret_0": PASSWORD, "secret_1": OLD_PASSWORD}
    present = accounts_book(tmp_path / "present.yml", d, [
        {"relayhost": "[msa.example.jp]:587", "username": "home@example.jp", "password": PASSWORD,
         "rewrite_sender": "home@example.jp"},
        {"sender": "alice@example.org", "relayhost": "[smtp.provider-b.example]:465", "username": "alice",
         "password": OLD_PASSWORD}])
    first = play(collection, str(present), tmp_path, "--diff", extra=secrets)
    assert first.returncode == 0, first.output
    assert first.changed == 2
    seen = first.output + json.dumps(first.records)
    assert PASSWORD not in seen and OLD_PASSWORD not in seen
    assert "+alice@example.org alice:********" in first.stdout
    assert postmap_dump("hash", d / "sender_relay", d) == "alice@example.org\t[smtp.provider-b.example]:465\n"
    assert "alice@example.org\talice:" + OLD_PASSWORD in postmap_dump("hash", d / "sasl_passwd", d)
    again = play(collection, str(present), tmp_path, extra=secrets)
    assert again.returncode == 0 and again.changed == 0, again.output

    absent = accounts_book(tmp_path / "absent.yml", d, [{"sender": "alice@example.org", "state": "absent"},
                                                        {"state": "absent"}])
    before = snapshot(d)
    checked = play(collection, str(absent), tmp_path, "--check", "--diff")
    assert checked.returncode == 0 and checked.changed == 2, checked.output
    assert snapshot(d) == before
    removed = play(collection, str(absent), tmp_path)
    assert removed.returncode == 0 and removed.changed == 2, removed.output
    assert {k: v[0] for k, v in snapshot(d).items()} == {k: v[0] for k, v in original.items()}
    twice = play(collection, str(absent), tmp_path)
    assert twice.returncode == 0 and twice.changed == 0, twice.output


@pytest.mark.postfix
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_postfix_relay_verify_true_writes_nothing_when_the_login_fails(collection: Collection,
                                                                      tmp_path: Path) -> None:
    need_postfix()
    from .e2e.certs import make_certs
    from .verify.servers import ProviderMsa

    server = ProviderMsa(make_certs(tmp_path / "certs"), {"home@example.jp": PASSWORD}, tls="starttls").start()
    try:
        d = config_copy(tmp_path)
        before = snapshot(d)
        relay = {"relayhost": server.relayhost, "username": "home@example.jp", "password": OLD_PASSWORD,
                 "verify": True}
        refused = play(collection, "relay.yml", tmp_path, extra={"config_dir": str(d), "relay": relay})
        assert refused.status("relay-auth") == "failed", refused.output
        result = refused.result("relay-auth")
        assert "did not pass verification at the auth stage" in result["msg"]
        assert [s["status"] for s in result["verify"]["stages"] if s["name"] == "auth"] == ["failed"]
        assert snapshot(d) == before and not result["changed"]
        assert OLD_PASSWORD not in refused.output + json.dumps(refused.records)
        accepted = play(collection, "relay.yml", tmp_path,
                        extra={"config_dir": str(d), "relay": relay | {"password": PASSWORD}})
        assert accepted.result("relay-auth")["changed"] is True, accepted.output
        assert accepted.result("relay-auth")["verify"]["ok"] is True
    finally:
        server.stop()
