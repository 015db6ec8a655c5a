"""The library entry point without the CLI: no resolver for an unbracketed relay, bad settings."""

from __future__ import annotations

from pathlib import Path

from postfix_conf import LookupTable, MainCf
from postfix_conf.verify.client_settings import ClientSettings, client_settings
from postfix_conf.verify.relay_probe import verify_relay


def _settings(tmp_path: Path, main_cf: str) -> ClientSettings:
    def no_tables(path: str) -> LookupTable | None:
        return None

    return client_settings(tmp_path, MainCf.parse(main_cf), None, no_tables)


def test_unbracketed_relay_without_a_resolver_says_how_to_get_one(tmp_path: Path) -> None:
    report = verify_relay(_settings(tmp_path, "relayhost = smtp.pfedit.test:587\n"), timeout=1)
    assert not report.ok
    [failed] = [s for s in report.stages if s.status == "failed"]
    assert failed.name == "resolve"
    assert "no brackets, so smtp(8) looks up the MX records of smtp.pfedit.test" in failed.detail
    assert "install dnspython" in failed.fix and "[smtp.pfedit.test]:587" in failed.fix
    assert [s.name for s in report.stages] == ["settings", "resolve", "connect", "greeting", "tls", "ehlo",
                                               "auth", "send", "quit"]


def test_malformed_relayhost_fails_the_settings_stage(tmp_path: Path) -> None:
    report = verify_relay(_settings(tmp_path, "relayhost = [smtp.pfedit.test]587\n"), timeout=1)
    assert report.stages[0].status == "failed"
    assert 'garbage after "]"' in report.stages[0].detail
    assert report.to_dict()["ok"] is False
