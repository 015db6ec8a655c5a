"""relay-auth accounts: the map entries Postfix looks up, each account on its own, and the way back.

Expected lookups come from ``postmap -q`` on the files written (keys as smtp(8) asks in
sender-dependent mode: the sender address, then ``@domain``); the way back is checked
byte for byte against the files as they were before the first apply.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfix_conf import MainCf, pipeline
from postfix_conf.recipes import RelayAuth, relay_auth, remove_relay_auth
from postfix_conf.recipes.relay_auth import local_domains
from postfix_conf.view import ConfigView

from .conftest import EXAMPLES, POSTCONF, POSTMAP, backdate, need_postfix, run_postfix_tool


def fresh(tmp_path: Path, name: str = "etc", main_extra: bytes = b"") -> Path:
    d = tmp_path / name
    shutil.copytree(EXAMPLES, d)
    (d / "main.cf").write_bytes((d / "main.cf").read_bytes() + main_extra)
    backdate(d / "main.cf")
    return d


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def run(d: Path, recipe: pipeline.Recipe, *, real: bool = False) -> pipeline.Result:
    """Through the pipeline; ``real``: postconf validation and postmap too (else files only)."""
    return pipeline.run(d, recipe, postmap=real, validate=real)


def account(sender: str | None, port: int = 587, user: str = "u", password: str = "pw-1",
            rewrite: str | None = None) -> RelayAuth:
    return RelayAuth(f"[smtp.{(sender or '@default.example').partition('@')[2]}]:{port}", user, password,
                     sender=sender, rewrite_sender=rewrite)


def query(d: Path, table: str, key: str) -> str | None:
    assert POSTMAP is not None
    got = run_postfix_tool([POSTMAP, "-c", str(d), "-q", key, f"hash:{d / table}"])
    return got.stdout.decode().strip() if got.returncode == 0 else None


@pytest.mark.postfix
def test_sender_accounts_are_looked_up_as_smtp_does(tmp_path: Path) -> None:
    need_postfix()
    need_postfix(POSTMAP)
    d = fresh(tmp_path)
    run(d, relay_auth(account("alice@example.jp", 587, "alice", "pw-A")), real=True)
    run(d, relay_auth(account("@example.org", 465, "bob", "pw-B")), real=True)
    assert query(d, "sender_relay", "alice@example.jp") == "[smtp.example.jp]:587"
    assert query(d, "sender_relay", "@example.org") == "[smtp.example.org]:465"
    assert query(d, "sasl_passwd", "alice@example.jp") == "alice:pw-A"
    assert query(d, "sasl_passwd", "@example.org") == "bob:pw-B"
    assert query(d, "sender_transport", "alice@example.jp") == "pfedit-starttls"
    assert query(d, "sender_transport", "@example.org") == "pfedit-wrapper"
    assert POSTCONF is not None
    backdate(d / "main.cf")
    params = dict(line.split(" = ", 1) for line in run_postfix_tool([POSTCONF, "-c", str(d), "-n"]).stdout.decode()
                  .splitlines() if " = " in line)
    assert "relayhost" not in params  # no default relay needed (docker-mailserver #3970)
    assert params["smtp_sender_dependent_authentication"] == "yes"
    options = run_postfix_tool([POSTCONF, "-c", str(d), "-P"]).stdout.decode()
    assert "pfedit-wrapper/unix/smtp_tls_wrappermode = yes" in options
    assert "pfedit-starttls/unix/smtp_tls_wrappermode = no" in options


def test_each_account_changes_only_its_own_entries(tmp_path: Path) -> None:
    d = fresh(tmp_path)
    run(d, relay_auth(account(None)))
    run(d, relay_auth(account("alice@example.jp")))
    before = files(d)
    assert not run(d, relay_auth(account("alice@example.jp"))).changed  # idempotent on its own
    changed = run(d, relay_auth(account("alice@example.jp", password="pw-NEW")))
    assert [Path(p).name for p in changed.written] == ["pfedit.state.json", "sasl_passwd"]
    after = files(d)
    old_lines = set(before["sasl_passwd"].split(b"\n"))
    new_lines = set(after["sasl_passwd"].split(b"\n"))
    assert old_lines - new_lines == {b"alice@example.jp u:pw-1"}
    assert new_lines - old_lines == {b"alice@example.jp u:pw-NEW"}
    moved = run(d, relay_auth(RelayAuth("[other.example]:587", "u", "pw-NEW", sender="alice@example.jp")))
    assert {Path(p).name for p in moved.written} == {"pfedit.state.json", "sender_relay"}
    assert b"alice@example.jp [other.example]:587\n" in (d / "sender_relay").read_bytes()


def test_rewrite_sender_maps_the_local_domains(tmp_path: Path) -> None:
    d = fresh(tmp_path, main_extra=b"myorigin = $mydomain\n")
    run(d, relay_auth(account(None, rewrite="me@provider.example")))
    generic = (d / "generic").read_text()
    # examples/etc-postfix: myhostname = mail.office.example, mydomain = office.example
    assert generic == "@mail.office.example me@provider.example\n@office.example me@provider.example\n"
    assert local_domains(ConfigView(d, MainCf.read(d / "main.cf"), None)) == ["mail.office.example",
                                                                            "office.example"]


def test_a_user_generic_map_keeps_its_lines_and_a_second_rewriter_is_refused(tmp_path: Path) -> None:
    d = fresh(tmp_path, main_extra=b"smtp_generic_maps = hash:${config_directory}/generic\n")
    (d / "generic").write_text("# mine\nwww@office.example web@provider.example\n")
    run(d, relay_auth(account(None, rewrite="me@provider.example")))
    assert (d / "generic").read_text().startswith("# mine\nwww@office.example web@provider.example\n")
    with pytest.raises(pipeline.BeforeCommitError, match=r"already rewritten to me@provider\.example"):
        run(d, relay_auth(account("@example.org", rewrite="other@provider.example")))
    run(d, remove_relay_auth())
    assert (d / "generic").read_text() == "# mine\nwww@office.example web@provider.example\n"


def test_remove_leaves_what_someone_changed_since(tmp_path: Path) -> None:
    d = fresh(tmp_path, main_extra=b"smtp_tls_security_level = may\n")
    run(d, relay_auth(account(None)))
    main = MainCf.read(d / "main.cf")
    main.set("smtp_tls_security_level", "verify")  # the admin's own decision after pfedit
    (d / "main.cf").write_bytes(main.to_bytes())
    plan = pipeline.plan(d, remove_relay_auth())
    assert any("smtp_tls_security_level was changed since pfedit set it" in w for w in plan.warnings)
    pipeline.apply(plan, postmap=False, validate=False)
    assert MainCf.read(d / "main.cf").get("smtp_tls_security_level") == "verify"
    assert MainCf.read(d / "main.cf").get("relayhost") in (None, "")


def test_remove_of_an_unknown_account_changes_nothing(tmp_path: Path) -> None:
    d = fresh(tmp_path)
    before = files(d)
    plan = pipeline.plan(d, remove_relay_auth("nobody@example.jp"), lock=False)
    assert not plan.changed and "nothing to remove" in plan.warnings[0]
    plan.discard()
    assert files(d) == before


# -- the round trip -------------------------------------------------------------------------------
PRIOR = {  # settings a configuration may already have before pfedit touches it
    "smtp_tls_security_level": ["none", "may", "verify"],
    "relayhost": ["", "[old.example]:25"],
    "smtp_tls_wrappermode": ["no", "yes"],
    "smtp_sasl_security_options": ["noplaintext, noanonymous"],
    "smtp_generic_maps": [],
}
SENDERS = [None, "alice@example.jp", "@example.org", "bob@office.example"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prior=st.dictionaries(st.sampled_from(sorted(k for k, v in PRIOR.items() if v)), st.integers(0, 5)),
       chosen=st.lists(st.sampled_from(SENDERS), min_size=1, max_size=4, unique=True),
       ports=st.lists(st.sampled_from([587, 465]), min_size=4, max_size=4),
       rewriter=st.integers(-1, 3), submission=st.booleans(), seed=st.integers(0, 2**16))
def test_apply_then_remove_gives_back_the_original_bytes(tmp_path_factory: pytest.TempPathFactory,
                                                        prior: dict[str, int], chosen: list[str | None],
                                                        ports: list[int], rewriter: int, submission: bool,
                                                        seed: int) -> None:
    extra = "".join(f"{k} = {PRIOR[k][i % len(PRIOR[k])]}\n" for k, i in sorted(prior.items()))
    d = fresh(tmp_path_factory.mktemp("rt"), main_extra=extra.encode())
    original = files(d)
    for n, sender in enumerate(chosen):
        params = account(sender, ports[n], f"user{n}", f"pw-{n}", "me@provider.example" if n == rewriter else None)
        params = RelayAuth(**{**params.__dict__, "submission": submission and n == 0})
        run(d, relay_auth(params))
        assert not run(d, relay_auth(params)).changed  # each account idempotent
    order = list(chosen)
    random.Random(seed).shuffle(order)
    for sender in order:
        run(d, remove_relay_auth(sender))
    assert files(d) == original
