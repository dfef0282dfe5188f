# SPDX-License-Identifier: MIT
"""The documentation says what the code does: rxmppctl(8) has every command
of rxmppctl --help, rxmpp-certtool(1) every command and option of
rxmpp-certtool --help, rxmpp.yaml(5) and the example file every key of the
schema (as rxmppd -n -v prints it), and the bash completions every command."""

import os
import re
import subprocess

from rxmpp_node import BIN

TOP = os.path.join(os.path.dirname(__file__), "..", "..")


def read(path):
    with open(os.path.join(TOP, path)) as f:
        return f.read()


def help_commands():
    text = subprocess.run([os.path.join(BIN, "rxmppctl"), "--help"], capture_output=True,
                          text=True, timeout=30).stdout
    commands = set()
    for line in text.splitlines():
        match = re.match(r"^  ([a-z][a-z-]+)\b", line)
        if match:
            commands.add(match.group(1))
    return commands


def test_rxmppctl_man_page_and_completion_cover_every_command():
    commands = help_commands()
    assert {"status", "reload", "user", "callbridge", "cluster", "domain", "listen", "certs",
            "enable", "disable", "max-sessions", "config", "reset"} <= commands
    man = read("packaging/man/rxmppctl.8").replace("\\-", "-")
    completion = read("packaging/bash-completion/rxmppctl")
    for command in commands:
        assert re.search(rf"^\.(B|BI|BR) .*\b{re.escape(command)}\b", man, re.M), command
        assert re.search(rf"\b{re.escape(command)}\b", completion), command


def canonical_keys():
    config = os.path.join(TOP, "packaging", "rxmpp.yaml")
    text = subprocess.run([os.path.join(BIN, "rxmppd"), "-n", "-v", "-c", config],
                          capture_output=True, text=True, timeout=30).stdout
    keys, section = [], None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^(\s*)([a-z_]+):", line)
        if not match:
            continue
        if match.group(1) == "" and line.rstrip().endswith(":"):
            section = match.group(2)
        elif match.group(1) == "":
            keys.append(match.group(2))
            section = None
        else:
            keys.append(f"{section}.{match.group(2)}")
    return keys


def test_rxmpp_yaml_man_page_documents_every_key():
    keys = canonical_keys()
    assert len(keys) > 30
    man = read("packaging/man/rxmpp.yaml.5")
    for key in keys:
        assert re.search(rf"\b{re.escape(key)}\b", man), key


def test_certtool_man_page_and_completion_cover_every_command_and_option():
    text = subprocess.run([os.path.join(BIN, "rxmpp-certtool"), "--help"], capture_output=True,
                          text=True, timeout=30).stdout
    commands = {m.group(1) for m in re.finditer(r"^  ([a-z]+)\b", text, re.M)}
    assert commands == {"csr", "selfsigned", "ca", "list", "inspect", "match", "verify",
                        "bundle"}
    options = set(re.findall(r"(--[a-z-]+)", text))
    assert {"--key-type", "--days", "--force", "--json", "--fix", "--ca", "--name"} <= options
    man = read("packaging/man/rxmpp-certtool.1").replace("\\-", "-")
    completion = read("packaging/bash-completion/rxmpp-certtool")
    for command in commands:
        assert re.search(rf"^\.(B|BI|BR) .*\b{command}\b", man, re.M), command
        assert re.search(rf"\b{command}\b", completion), command
    for option in options:
        assert option in man, option
        assert option in completion or option == "--help", option
