#!/usr/bin/python
# Copyright: pfedit contributors
# MIT License (see the pfedit project)
"""Ansible module: ``pfedit apply relay-auth`` as one idempotent task."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postfix_relay
short_description: Send all mail through a provider's relay with SMTP AUTH (pfedit apply relay-auth)
version_added: "0.1.0"
description:
  - The whole relay-auth recipe of C(pfedit apply relay-auth) as one task, with the same options, the
    same defaults and byte-for-byte the same result.
  - Sets C(relayhost), the C(smtp_sasl_*) client parameters and C(smtp_tls_security_level=encrypt)
    (a stronger level already set is kept), C(smtp_tls_wrappermode) for port 465; adds the
    credentials to the password map (mode 0600 from its first byte), compiles it with C(postmap)
    (when changed, missing or stale) and makes the compiled map 0600; optionally enables the
    C(submission) service for authenticated clients only.
  - Each edit is made only if its result is not already there; every other byte of every file stays.
    The new C(main.cf)/C(master.cf) are read by C(postconf) first, then all files are committed
    together (each file entirely old or entirely new), under Postfix's own edit lock.
  - The password is never logged, never on a command line and masked in the diff.
  - All the work is done by pfedit's C(postfix_conf) library, which is bundled with the collection.
author:
  - pfedit contributors (!UNKNOWN)
requirements:
  - Python 3.11 or later on the managed host (no other Python packages).
  - Postfix (C(postconf), C(postmap); C(postfix) for O(reload)).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The password map's passwords are masked.
  platform:
    platforms: posix
options:
  config_dir:
    description:
      - Postfix configuration directory (C(--config-dir)).
      - Default C($MAIL_CONFIG) on the managed host, else C(/etc/postfix).
    type: path
  relayhost:
    description:
      - The provider's relay (C(--relayhost)), for example V([msa.example.jp]:587); brackets turn off
        the MX lookup. Several relays are separated by commas or spaces. Quote it in YAML.
      - Required with O(state=present).
    type: str
  username:
    description: SMTP AUTH user name (C(--username)). Required with O(state=present).
    type: str
  password:
    description: SMTP AUTH password (what C(--password-file) holds). Never logged. Required with O(state=present).
    type: str
  sender:
    description:
      - An account for one sender address (V(alice@example.jp)) or a whole domain (V(@example.org)) instead of
        the default relay (C(--sender)); it uses C(sender_dependent_relayhost_maps), credentials keyed by the sender,
        and a dedicated smtp transport per TLS mode, so accounts on 587 and 465 work side by side.
    type: str
  rewrite_sender:
    description:
      - Mail from the local domains (C($myhostname), C($mydomain), C($myorigin)) leaves as this address,
        envelope and headers (C(smtp_generic_maps); C(--rewrite-sender)). With O(sender), that mail also goes
        through that account.
    type: str
  verify:
    description:
      - Before anything is written, log in to the relay with the planned settings, stage by stage, as
        C(pfedit verify relay) does (C(--verify)); when a stage fails, the task fails and no file is written,
        no map compiled, nothing reloaded. RV(verify) has the stages. An unbracketed relayhost needs
        C(dnspython) on the managed host for its MX lookup.
    type: bool
    default: false
  state:
    description:
      - V(absent) takes the account back (C(--remove)), its entries and, with the last account, every setting
        the accounts added, restored from pfedit's state file (C(pfedit.state.json)); a setting changed since
        by someone else is left alone, with a warning.
    type: str
    choices: [present, absent]
    default: present
  tls:
    description:
      - C(--tls). V(auto) uses implicit TLS (C(smtp_tls_wrappermode=yes)) for port 465, C(smtps) and
        C(submissions), else STARTTLS.
    type: str
    choices: [auto, starttls, wrapper]
    default: auto
  mechanisms:
    description: C(smtp_sasl_mechanism_filter) (C(--mechanisms)), for example V(PLAIN, LOGIN). Default unchanged.
    type: str
  password_map:
    description:
      - The password map's source file (C(--password-map)); a relative path is inside O(config_dir).
      - Default the file already named in C(smtp_sasl_password_maps), else O(config_dir)C(/sasl_passwd).
    type: path
  map_type:
    description:
      - The password map's type (C(--map-type)), for example V(hash), V(lmdb) or V(texthash).
      - Default C(postconf default_database_type).
    type: str
  submission:
    description: Also enable the C(submission) service (port 587) for authenticated clients (C(--submission)).
    type: bool
    default: false
  submission_listen:
    description: C(--submission-listen). V(loopback) enables C(127.0.0.1:submission) instead.
    type: str
    choices: [any, loopback]
    default: any
  backup:
    description: Keep the previous version of each changed file (C(--backup)).
    type: bool
    default: false
  postmap:
    description: Run C(postmap) when needed; V(false) is C(--no-postmap) (RV(messages) says what to run).
    type: bool
    default: true
  reload:
    description:
      - Run C(postfix check) and C(postfix reload) when something changed (C(--reload)).
      - Otherwise RV(reload_required) tells a handler to do it.
    type: bool
    default: false
notes:
  - The SMTP client also needs a SASL plugin for the mechanism (C(libsasl2-modules) on Debian/Ubuntu,
    C(cyrus-sasl-plain) on RHEL); this module does not install packages.
seealso:
  - module: pfedit.postfix.postfix_map
  - module: pfedit.postfix.postfix_main
"""

EXAMPLES = r"""
- name: A second account, for one sender, on another provider's port 465
  pfedit.postfix.postfix_relay:
    sender: alice@example.org
    relayhost: "[smtp.provider-b.example]:465"
    username: alice
    password: "{{ vault_alice_password }}"

- name: "The provider accepts only its own address as sender: rewrite local mail (root, cron) to it"
  pfedit.postfix.postfix_relay:
    relayhost: "[msa.example.jp]:587"
    username: home@example.jp
    password: "{{ vault_relay_password }}"
    rewrite_sender: home@example.jp

- name: Go back to direct delivery for that sender
  pfedit.postfix.postfix_relay:
    sender: alice@example.org
    state: absent

- name: Relay through the provider's submission port (OP25B)
  pfedit.postfix.postfix_relay:
    relayhost: "[msa.example.jp]:587"
    username: home@example.jp
    password: "{{ vault_relay_password }}"
  notify: Reload postfix

- name: Port 465, an explicit map, the submission service, reload right away
  pfedit.postfix.postfix_relay:
    relayhost: "[smtp.example.net]:465"
    username: home@example.jp
    password: "{{ vault_relay_password }}"
    password_map: /etc/postfix/sasl/sasl_passwd
    map_type: lmdb
    submission: true
    backup: true
    reload: true
"""

RETURN = r"""
operations:
  description: The recipe's edits (or, in check mode, the edits it would make); never a password.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/postfix/main.cf", "action": "set", "target": "relayhost", "old": "",
            "new": "[msa.example.jp]:587", "note": ""},
           {"file": "/etc/postfix/sasl_passwd", "action": "add-entry", "target": "[msa.example.jp]:587",
            "old": null, "new": null, "note": "credentials"}]
password_map:
  description: The password map as C(main.cf) names it (null when removing an account left none).
  returned: always
  type: str
  sample: hash:/etc/postfix/sasl_passwd
written:
  description: Files replaced.
  returned: always
  type: list
  elements: str
backups:
  description: For each replaced file with O(backup=true), where its previous version is.
  returned: always
  type: dict
postmap:
  description: C(postmap) was run by this task.
  returned: always
  type: bool
messages:
  description: What to run by hand (with O(postmap=false)).
  returned: always
  type: list
  elements: str
reload_required:
  description: Something changed and Postfix was not reloaded by this task (notify a handler).
  returned: always
  type: bool
reloaded:
  description: Postfix was reloaded by this task.
  returned: always
  type: bool
verify:
  description: With O(verify=true), the stages of the live check (C(name), C(status), C(detail), C(fix)).
  returned: when O(verify=true)
  type: dict
findings:
  description: Problems found in the files of the recipe (also shown as warnings unless informational).
  returned: always
  type: list
  elements: dict
postfix_version:
  description:
    - The installed Postfix's C(mail_version), which the findings assume (asked without reading any
      configuration, so a broken C(master.cf) cannot hide it); null when C(postconf) did not answer.
  returned: always
  type: str
  sample: 3.7.11
config_dir:
  description: The configuration directory used.
  returned: always
  type: str
  sample: /etc/postfix
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.pfedit.postfix.plugins.module_utils.pfedit_common import (  # noqa: E402
    PostfixConfError,
    RelayAuth,
    Run,
    password_map_of,
    postfix_tools,
    relay_auth,
    remove_relay_auth,
    require_library,
    verify_plan,
    veto,
)


def verify_hook(run, sender):
    """The live check of the planned settings; its report goes into the result."""
    def check(plan):
        report = verify_plan(plan, sender=sender, resolve_mx=mx_resolver())
        run.result["verify"] = report.to_dict()
        veto(report)
    return check


def mx_resolver():
    """MX lookups through dnspython when the managed host has it (bracketed relays need none)."""
    try:
        import dns.resolver
    except ImportError:
        return None

    def mx(name):
        answer = dns.resolver.resolve(name, "MX", search=False)
        return [(int(r.preference), r.exchange.to_text()) for r in answer]
    return mx


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path"),
            relayhost=dict(type="str"),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            sender=dict(type="str"),
            rewrite_sender=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            verify=dict(type="bool", default=False),
            tls=dict(type="str", default="auto", choices=["auto", "starttls", "wrapper"]),
            mechanisms=dict(type="str"),
            password_map=dict(type="path", no_log=False),
            map_type=dict(type="str"),
            submission=dict(type="bool", default=False),
            submission_listen=dict(type="str", default="any", choices=["any", "loopback"]),
            backup=dict(type="bool", default=False),
            postmap=dict(type="bool", default=True),
            reload=dict(type="bool", default=False),
        ),
        required_if=[("state", "present", ("relayhost", "username", "password"))],
        supports_check_mode=True,
    )
    require_library(module)
    p = module.params
    run = Run(module, secrets=[p["password"]])
    run.result.update(postmap=False, messages=[])
    try:
        if p["state"] == "absent":
            recipe = remove_relay_auth(p["sender"])
        else:
            password_map = run.file(p["password_map"]) if p["password_map"] else None  # relative: in config_dir
            params = RelayAuth(p["relayhost"], p["username"], p["password"], p["tls"], p["mechanisms"], password_map,
                               p["map_type"], p["submission"], p["submission_listen"], p["sender"],
                               p["rewrite_sender"])
            default_type = None
            if p["map_type"] is None and p["password_map"] is None:
                default_type = postfix_tools.default_database_type(run.config_dir)
            recipe = relay_auth(params, default_map_type=default_type)
    except PostfixConfError as exc:
        run.fail(str(exc))
    done = run.execute(recipe, backup=p["backup"], postmap=p["postmap"], reload=p["reload"],
                       verify=verify_hook(run, p["sender"]) if p["verify"] and p["state"] == "present" else None)
    run.result["password_map"] = password_map_of(run.plan.planned.tables)
    if done is not None:
        run.result.update(postmap=bool(done.compiled), messages=[run.mask(m) for m in done.messages])
    files = [run.file("main.cf"), *run.plan.planned.tables] + ([run.file("master.cf")] if p["submission"] else [])
    run.warn_findings(files)
    run.exit()


if __name__ == "__main__":
    main()
