#!/usr/bin/python
# Copyright: pfedit contributors
# MIT License (see the pfedit project)
"""Ansible module: main.cf parameters, edited in place by postfix_conf."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postfix_main
short_description: Set, remove or comment out main.cf parameters, changing nothing else
version_added: "0.1.0"
description:
  - Edits C(main.cf) in place the way C(postconf -e), C(postconf -X) and C(postconf -#) do, but only the
    lines of the named parameters change; every other byte (comments, order, continuation lines,
    line endings) stays as it was.
  - A new parameter goes right after its commented-out example (C(#relayhost = ...)) when the file has
    one, else at the end of the file. A parameter defined several times is changed everywhere.
  - The file is written only when a byte changes, atomically, under Postfix's own edit lock, keeping
    owner, mode and extended attributes (the same safe writes as the C(pfedit) command).
  - Before writing, the new C(main.cf) is read by C(postconf) when it is installed, and a configuration
    it rejects is not written.
  - All the work is done by pfedit's C(postfix_conf) library, which is bundled with the collection.
author:
  - pfedit contributors (!UNKNOWN)
requirements:
  - Python 3.11 or later on the managed host (no other Python packages).
  - Postfix's C(postconf) for validation, C(postfix) for O(reload).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Secrets are not masked in main.cf; keep passwords in lookup tables.
  platform:
    platforms: posix
options:
  config_dir:
    description:
      - Postfix configuration directory, like C(postconf -c).
      - Default C($MAIL_CONFIG) on the managed host, else C(/etc/postfix).
    type: path
  parameters:
    description:
      - 'Parameter names and their values, for example C({"relayhost": "[smtp.example.com]:587"}).'
      - Values are written as given; C(yes)/C(no) (booleans to YAML) become C(yes)/C(no), numbers their
        digits, an empty value (C(~)) an empty setting (C(name =)).
      - Quote values with brackets or dots, for example C("[smtp.example.com]:587") or C("3.10"); a list
        or a floating point number is refused because YAML has already changed what you wrote.
      - With O(state=absent) or O(state=commented) only the names count.
    type: dict
    required: true
  state:
    description:
      - V(present) sets every parameter to its value.
      - V(absent) removes every definition of each name (comment lines inside a multi-line value stay).
      - V(commented) comments out every definition of each name, the inverse of uncommenting it by hand.
    type: str
    choices: [present, absent, commented]
    default: present
  backup:
    description: Keep the previous version of C(main.cf) next to it when it is replaced.
    type: bool
    default: false
  validate:
    description: Have C(postconf) read the new C(main.cf) before writing it; skip if C(postconf) is missing.
    type: bool
    default: true
  reload:
    description:
      - Run C(postfix check) and C(postfix reload) when the file changed.
      - Otherwise RV(reload_required) tells a handler to do it.
    type: bool
    default: false
notes:
  - Parameters that only take effect after C(postfix stop/start) (for example C(inet_interfaces)) still need
    a restart.
seealso:
  - module: pfedit.postfix.postfix_master
  - module: pfedit.postfix.postfix_relay
"""

EXAMPLES = r"""
- name: Relay through the provider, with SASL and mandatory TLS
  pfedit.postfix.postfix_main:
    parameters:
      relayhost: "[smtp.example.com]:587"
      smtp_sasl_auth_enable: yes
      smtp_tls_security_level: encrypt
      message_size_limit: 52428800
  notify: Reload postfix

- name: Remove a parameter, leaving the rest of main.cf alone
  pfedit.postfix.postfix_main:
    parameters:
      smtp_tls_wrappermode:
    state: absent

- name: Comment out a setting in another instance's directory and reload right away
  pfedit.postfix.postfix_main:
    config_dir: /etc/postfix-out
    parameters:
      delay_warning_time:
    state: commented
    reload: true
"""

RETURN = r"""
operations:
  description: The edits made (or, in check mode, that would be made).
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/postfix/main.cf", "action": "set", "target": "relayhost", "old": "",
            "new": "[smtp.example.com]:587", "note": ""}]
written:
  description: Files replaced.
  returned: always
  type: list
  elements: str
backups:
  description: For each replaced file with O(backup=true), where its previous version is.
  returned: always
  type: dict
reload_required:
  description: Something changed and Postfix was not reloaded by this task (notify a handler).
  returned: always
  type: bool
reloaded:
  description: Postfix was reloaded by this task.
  returned: always
  type: bool
findings:
  description: Problems found in C(main.cf) after the edit (also shown as warnings unless informational).
  returned: always
  type: list
  elements: dict
  sample: [{"code": "duplicate-parameter", "severity": "warning", "file": "/etc/postfix/main.cf", "line": 40,
            "message": "overriding earlier entry: relayhost=", "fix": null}]
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
    Run,
    desired,
    items,
    require_library,
    scalar,
)


def wanted(params):
    """One desired main.cf item per parameter (the raw text given is what must be in the file)."""
    state = params["state"]
    for name, given in params["parameters"].items():
        if state == "present":
            yield items.Param(name, scalar(name, given))
        else:
            yield items.Param(name, None, remove="delete" if state == "absent" else "comment")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path"),
            parameters=dict(type="dict", required=True),
            state=dict(type="str", default="present", choices=["present", "absent", "commented"]),
            backup=dict(type="bool", default=False),
            validate=dict(type="bool", default=True),
            reload=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    require_library(module)
    params = module.params
    run = Run(module)
    try:
        recipe = desired(list(wanted(params)))
    except ValueError as exc:
        run.fail(str(exc))
    run.execute(recipe, backup=params["backup"], validate=params["validate"], reload=params["reload"])
    run.warn_findings([run.file("main.cf")])
    run.exit()


if __name__ == "__main__":
    main()
