#!/usr/bin/python
# Copyright: pfedit contributors
# MIT License (see the pfedit project)
"""Ansible module: one master.cf service, edited in place by postfix_conf."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postfix_master
short_description: Manage one master.cf service, its fields and -o options, changing nothing else
version_added: "0.1.0"
description:
  - Makes the service O(name)/O(type) present, absent or disabled (commented out) in C(master.cf).
  - With O(state=present), a service that is not active is first looked for as a commented-out block,
    such as the stock C(#submission inet ...) block with its C(#  -o ...) lines, and that block is
    uncommented (O(activate_stock)); otherwise a new entry is added in the file's own column layout.
    Then the given fields, arguments and C(-o) options are set, each only if it differs.
  - Only the tokens that change are replaced (a C(-o) keeps its form and line, columns stay aligned);
    comments, prose and every other service stay byte for byte.
  - The file is written only when a byte changes, atomically, under Postfix's own edit lock, keeping
    owner, mode and extended attributes; a C(master.cf) that C(postconf) rejects is not written.
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
  platform:
    platforms: posix
options:
  config_dir:
    description:
      - Postfix configuration directory, like C(postconf -c).
      - Default C($MAIL_CONFIG) on the managed host, else C(/etc/postfix).
    type: path
  name:
    description: Service name (column 1), for example V(submission), V(127.0.0.1:submission) or V(relay).
    type: str
    required: true
  type:
    description: Service type (column 2).
    type: str
    required: true
    choices: [inet, unix, unix-dgram, fifo, pass]
  state:
    description:
      - V(present) makes the service active with the given settings.
      - V(disabled) comments out every copy of the service (C(postconf -M#)); V(absent) deletes them
        (C(postconf -MX)); comment lines inside an entry stay.
    type: str
    choices: [present, absent, disabled]
    default: present
  private:
    description: Column 3 (V(y), V(n) or V(-)); C(yes)/C(no) are read as V(y)/V(n).
    type: raw
  unprivileged:
    description: Column 4 (V(y), V(n) or V(-)).
    type: raw
  chroot:
    description: Column 5 (V(y), V(n) or V(-)).
    type: raw
  wakeup:
    description: Column 6, for example V(60), V(300?) or V(-).
    type: raw
  process_limit:
    description: Column 7 (maxproc), for example V(0), V(100) or V(-).
    type: raw
  command:
    description:
      - The program (column 8), for example V(smtpd) or V(pipe), without arguments.
      - Required when the service has to be added (it is neither active nor commented out).
    type: str
  args:
    description:
      - The arguments after the C(-o) options, one list item per argument as the daemon receives it,
        for example V([flags=DRXhu, user=vmail, "argv=/usr/bin/maildrop", -d, "${recipient}"]).
      - Changing the arguments of an existing service rewrites its command line on one line, as
        C(postconf -Fe) does. Leave unset to keep them.
    type: list
    elements: str
  options:
    description:
      - 'C(-o name=value) overrides to set, for example V({"smtpd_tls_security_level": "encrypt"}).'
      - An existing C(-o) keeps its form and position; a new one goes after the last option, on its
        own line when the entry's options are on their own lines. A value with spaces is written
        C(-o { name = value }). Booleans become V(yes)/V(no).
    type: dict
  remove_options:
    description: Names of C(-o) overrides to remove (the whole line when the option is alone on it).
    type: list
    elements: str
    default: []
  activate_stock:
    description:
      - With O(state=present), uncomment the last commented-out block of this service (and its directly
        following commented C(-o) lines) instead of adding a new entry.
    type: bool
    default: true
  backup:
    description: Keep the previous version of C(master.cf) next to it when it is replaced.
    type: bool
    default: false
  validate:
    description: Have C(postconf) read the new C(master.cf) before writing it; skip if C(postconf) is missing.
    type: bool
    default: true
  reload:
    description:
      - Run C(postfix check) and C(postfix reload) when the file changed.
      - Otherwise RV(reload_required) tells a handler to do it.
    type: bool
    default: false
seealso:
  - module: pfedit.postfix.postfix_main
  - module: pfedit.postfix.postfix_relay
"""

EXAMPLES = r"""
- name: Enable the stock submission block, authenticated clients only
  pfedit.postfix.postfix_master:
    name: submission
    type: inet
    options:
      smtpd_tls_security_level: encrypt
      smtpd_sasl_auth_enable: yes
      smtpd_relay_restrictions: permit_sasl_authenticated,reject
    remove_options: [smtpd_enforce_tls]
  notify: Reload postfix

- name: A pipe transport
  pfedit.postfix.postfix_master:
    name: maildrop
    type: unix
    unprivileged: n
    chroot: n
    command: pipe
    args: [flags=DRXhu, user=vmail, "argv=/usr/bin/maildrop", -d, "${recipient}"]

- name: Turn the smtps service off again, keeping it in the file
  pfedit.postfix.postfix_master:
    name: submissions
    type: inet
    state: disabled
    reload: true
"""

RETURN = r"""
operations:
  description: The edits made (or, in check mode, that would be made).
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/postfix/master.cf", "action": "enable-service", "target": "submission/inet",
            "old": null, "new": null, "note": "uncommented the stock block"}]
service:
  description: The service as Postfix reads it after the task (null when it is not active).
  returned: always
  type: dict
  sample: {"name": "submission", "type": "inet", "line": 24,
           "fields": {"service": "submission", "type": "inet", "private": "n", "unprivileged": "-",
                      "chroot": "n", "wakeup": "-", "process_limit": "-",
                      "command": "smtpd -o syslog_name=postfix/submission"},
           "options": {"syslog_name": "postfix/submission"}, "args": ["-o", "syslog_name=postfix/submission"]}
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
  description: Problems found in C(master.cf) after the edit (also shown as warnings unless informational).
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
    Run,
    desired,
    items,
    require_library,
    scalar,
)

COLUMNS = ("private", "unprivileged", "chroot", "wakeup", "process_limit")


def column(name, value):
    """A column value as master.cf spells it (YAML yes/no -> y/n)."""
    if isinstance(value, bool):
        return "y" if value else "n"
    return scalar(name, value)


def service_dict(service):
    if service is None:
        return None
    return {"name": service.name, "type": service.type, "line": service.line, "fields": service.fields,
            "options": dict(service.options), "args": list(service.args)}


def wanted(params):
    """The service item, then one item per option to set or remove."""
    name, kind, state = params["name"], params["type"], params["state"]
    if state != "present":
        return [items.Service(name, kind, state=state)]
    key = f"{name}/{kind}"
    columns = tuple((c, column(c, params[c])) for c in COLUMNS if params[c] is not None)
    options = tuple((k, scalar(f"{key}/{k}", v)) for k, v in (params["options"] or {}).items())
    args = None if params["args"] is None else tuple(params["args"])
    out = [items.Service(name, kind, columns=columns, command=params["command"], args=args,
                         stock=params["activate_stock"], options=options)]
    out += [items.Option(name, kind, k, v) for k, v in options]
    out += [items.Option(name, kind, k, None) for k in params["remove_options"]]
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path"),
            name=dict(type="str", required=True),
            type=dict(type="str", required=True, choices=["inet", "unix", "unix-dgram", "fifo", "pass"]),
            state=dict(type="str", default="present", choices=["present", "absent", "disabled"]),
            private=dict(type="raw"),
            unprivileged=dict(type="raw"),
            chroot=dict(type="raw"),
            wakeup=dict(type="raw"),
            process_limit=dict(type="raw"),
            command=dict(type="str"),
            args=dict(type="list", elements="str"),
            options=dict(type="dict"),
            remove_options=dict(type="list", elements="str", default=[]),
            activate_stock=dict(type="bool", default=True),
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
        recipe = desired(wanted(params))
    except ValueError as exc:
        run.fail(str(exc))
    run.execute(recipe, backup=params["backup"], validate=params["validate"], reload=params["reload"])
    run.warn_findings([run.file("master.cf")])
    master = run.plan.transaction.documents.get(run.file("master.cf")) if run.plan is not None else None
    run.exit(service=service_dict(master.get(params["name"], params["type"])) if master is not None else None)


if __name__ == "__main__":
    main()
