#!/usr/bin/python
# Copyright: pfedit contributors
# MIT License (see the pfedit project)
"""Ansible module: entries of a postmap lookup table, edited in place by postfix_conf."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postfix_map
short_description: Manage entries of a Postfix lookup table (sasl_passwd, transport, ...) and its compiled map
version_added: "0.1.0"
description:
  - Adds, updates or removes entries of a C(postmap) source file in place; every other line (comments,
    other entries, continuation lines, line endings) stays byte for byte. Keys match as C(postmap)
    matches them (case-folded, the first definition wins).
  - The values are treated as secrets (SMTP AUTH passwords); they are never logged or shown, and the
    diff shows them masked.
  - New source files are created with mode 0600 from their first byte. O(mode), O(owner) and O(group)
    are enforced on the source and on the compiled map (C(.db), C(.lmdb), C(.cdb)).
  - C(postmap) runs when the source changed or the compiled map is missing or older than its source,
    so a run that failed half-way is repaired by the next one.
  - The source is written only when a byte changes, atomically, under Postfix's own edit lock.
  - All the work is done by pfedit's C(postfix_conf) library, which is bundled with the collection.
author:
  - pfedit contributors (!UNKNOWN)
requirements:
  - Python 3.11 or later on the managed host (no other Python packages).
  - Postfix's C(postmap) to compile the map, C(postconf) to find the default map type.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Values are masked in the diff.
  platform:
    platforms: posix
options:
  config_dir:
    description:
      - Postfix configuration directory, passed to C(postmap -c); a relative O(path) is inside it.
      - Default C($MAIL_CONFIG) on the managed host, else C(/etc/postfix).
    type: path
  path:
    description: The source file of the table, for example V(/etc/postfix/sasl_passwd) or V(sasl_passwd).
    type: path
    required: true
  map_type:
    description:
      - The table type, as in C(hash:/etc/postfix/sasl_passwd).
      - Default what C(postconf default_database_type) says (C(hash) on most systems, C(lmdb) where
        Berkeley DB is gone).
      - V(texthash) is read directly by Postfix, without C(postmap), but only at C(postfix reload).
      - A type this Postfix does not support (not in C(postconf -m), for example V(cdb) without the
        C(postfix-cdb) package) fails the task before anything is written.
    type: str
    choices: [btree, cdb, dbm, hash, lmdb, sdbm, texthash]
  entries:
    description:
      - 'Keys and their values, for example V({"[smtp.example.com]:587": "user:password"}). Quote keys
        with brackets.'
      - With O(state=absent) only the keys count.
      - The values are not logged (C(no_log)).
    type: dict
  keys:
    description: Keys to remove with O(state=absent) (in addition to the keys of O(entries)).
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) makes each key look up its value (the first definition is changed in place; a new key
        is appended).
      - V(absent) removes every definition of each key.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description: With O(state=present), also remove every key that is not in O(entries).
    type: bool
    default: false
  postmap:
    description: Run C(postmap) when needed. With V(false) the result says what to run.
    type: bool
    default: true
  backup:
    description: Keep the previous version of the source file next to it when it is replaced.
    type: bool
    default: false
  mode:
    description:
      - Mode of the source file and of the compiled map, as in M(ansible.builtin.file).
      - The default keeps the values readable by root only. A mode without group and other bits also
        makes a new source file private from its first byte.
    type: raw
    default: "0600"
notes:
  - Postfix notices changes of C(hash), C(btree), C(lmdb) and C(cdb) maps by itself; only V(texthash)
    needs a reload, which RV(reload_required) reports.
seealso:
  - module: pfedit.postfix.postfix_relay
  - module: pfedit.postfix.postfix_main
"""

EXAMPLES = r"""
- name: SMTP AUTH credentials for the relay
  pfedit.postfix.postfix_map:
    path: /etc/postfix/sasl_passwd
    entries:
      "[smtp.example.com]:587": "alice@example.com:{{ vault_relay_password }}"

- name: A transport table that holds exactly these routes, readable by all
  pfedit.postfix.postfix_map:
    path: transport
    map_type: hash
    mode: "0644"
    exclusive: true
    entries:
      example.org: "smtp:[mx.example.org]"
      .example.org: "smtp:[mx.example.org]"

- name: Forget an old relay's credentials
  pfedit.postfix.postfix_map:
    path: /etc/postfix/sasl_passwd
    keys: ["[old-relay.example.net]:587"]
    state: absent
"""

RETURN = r"""
map:
  description: The table as C(main.cf) names it.
  returned: always
  type: str
  sample: hash:/etc/postfix/sasl_passwd
operations:
  description: The edits made (or, in check mode, that would be made); values are never included.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/postfix/sasl_passwd", "action": "add-entry", "target": "[smtp.example.com]:587",
            "old": null, "new": null, "note": "value hidden"}]
postmap:
  description: C(postmap) was run by this task.
  returned: always
  type: bool
messages:
  description: What to run by hand (with O(postmap=false)).
  returned: always
  type: list
  elements: str
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
  description: The table changed and Postfix reads it only at reload (V(texthash)).
  returned: always
  type: bool
reloaded:
  description: Always false; this module never reloads Postfix.
  returned: always
  type: bool
findings:
  description: Problems C(postmap) would have with the table (they never quote a value).
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

import os  # noqa: E402 (imports go below DOCUMENTATION/EXAMPLES/RETURN)
import stat  # noqa: E402 (imports go below DOCUMENTATION/EXAMPLES/RETURN)
from pathlib import Path  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.pfedit.postfix.plugins.module_utils.pfedit_common import (  # noqa: E402
    PostfixConfError,
    Run,
    compiled_files,
    desired,
    items,
    postfix_tools,
    require_library,
    scalar,
)


def private(mode):
    """Whether a new source file should be created 0600 (the mode has no group/other bits)."""
    if mode is None:
        return True
    if isinstance(mode, int):
        return not mode & 0o077
    text = str(mode)
    if text.isdigit():
        return not int(text, 8) & 0o077
    return True  # symbolic: created private, then set exactly by Ansible


def wanted(source, map_type, params):
    """The table item and one item per key to set or remove (values are never shown)."""
    entries = params["entries"] or {}
    present = params["state"] == "present"
    only = tuple(entries) if present and params["exclusive"] else None
    out = [items.Table(str(source), map_type, secret=private(params["mode"]), only=only)]
    if present:
        out += [items.Entry(str(source), key, scalar(f"the value of key {key!r}", value), secret=True,
                            note="value hidden") for key, value in entries.items()]
    else:
        out += [items.Entry(str(source), key, None) for key in [*params["keys"], *entries]]
    return out


def file_state(path):
    """(mode, uid, gid) of a file, or None when it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def attributes(module, run, files, before):
    """Enforce mode/owner/group (Ansible's own file handling) on each existing file; diff what changed.

    ``before`` holds each file's state from before the task: a secret source written by
    the library already lost its group/other bits, which is a change to show too.
    """
    changed = False
    for target in files:
        if not os.path.lexists(target):
            continue
        args = module.load_file_common_arguments(module.params, path=str(target))
        would = {"before": {}, "after": {}}
        changed = module.set_fs_attributes_if_different(args, changed, diff=would, expand=False)
        old, new = before.get(target), file_state(target)
        if old is not None and new is not None and old != new and not module.check_mode:
            changed = True
            shown = [(name, f"{a:04o}" if name == "mode" else a, f"{b:04o}" if name == "mode" else b)
                     for name, a, b in zip(("mode", "owner", "group"), old, new, strict=True) if a != b]
            would = {"before": {n: a for n, a, _ in shown}, "after": {n: b for n, _, b in shown}}
        if module._diff and would["before"] != would["after"]:
            run.result.setdefault("diff", []).append({"before_header": f"{target} (attributes)",
                                                      "after_header": f"{target} (attributes)",
                                                      "before": would["before"], "after": would["after"]})
    return changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path"),
            path=dict(type="path", required=True),
            map_type=dict(type="str", choices=["btree", "cdb", "dbm", "hash", "lmdb", "sdbm", "texthash"]),
            entries=dict(type="dict", no_log=True),
            keys=dict(type="list", elements="str", default=[], no_log=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            exclusive=dict(type="bool", default=False),
            postmap=dict(type="bool", default=True),
            backup=dict(type="bool", default=False),
            mode=dict(type="raw", default="0600"),
        ),
        required_if=[("state", "present", ("entries",))],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    require_library(module)
    params = module.params
    values = [str(v) for v in (params["entries"] or {}).values() if v is not None]
    run = Run(module, secrets=values)
    run.result.update(postmap=False, messages=[])
    try:
        map_type = params["map_type"] or postfix_tools.default_database_type(run.config_dir) or "hash"
        source = Path(run.file(params["path"]))
        recipe = desired(wanted(source, map_type, params))
    except (PostfixConfError, ValueError) as exc:
        run.fail(str(exc))
    run.result["map"] = f"{map_type}:{source}"
    compiled = compiled_files(map_type, source)
    before = {f: file_state(f) for f in [source, *compiled]}
    done = run.execute(recipe, backup=params["backup"], validate=False, postmap=params["postmap"])
    content_changed = any(op["file"] == str(source) and op["action"].endswith("-entry")
                          for op in run.result["operations"])
    if done is not None:
        run.result.update(postmap=bool(done.compiled), messages=[run.mask(m) for m in done.messages
                                                                 if m.startswith("run: postmap")])
    if attributes(module, run, [source, *compiled], before):
        run.result["changed"] = True
    run.result["reload_required"] = bool(content_changed and not compiled)
    run.warn_findings([source])
    run.exit()


if __name__ == "__main__":
    main()
