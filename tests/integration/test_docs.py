# SPDX-License-Identifier: MIT
"""The documentation says what the code does: rxmppctl(8) has every command
of rxmppctl --help, rxmpp-certtool(1) every command and option of
rxmpp-certtool --help, rxmpp.yaml(5) and the example file every key of the
schema (as rxmppd -n -v prints it), and the bash completions every command.
Every command and subcommand of the help listings answers --help, wherever
the global options stand."""

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


def help_synopses():
    """The synopsis column of rxmppctl --help's command list (split from its
    explanation by two spaces): "status", "user add|passwd|del|list", ..."""
    text = subprocess.run([os.path.join(BIN, "rxmppctl"), "--help"], capture_output=True,
                          text=True, timeout=30).stdout
    section = text.split("Commands:", 1)[1].split("Options:", 1)[0]
    return [re.split(r"\s{2,}", line.strip())[0] for line in section.splitlines()
            if re.match(r"^  [a-z]", line)]


def command_words(synopsis):
    """("user", "add"), ... for a synopsis with subcommands; ("status",) else."""
    words = synopsis.replace(" | ", "|").split()
    if len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", words[1]):
        return {(words[0], sub) for sub in words[1].split("|")}
    return {(words[0],)}


def help_command_words():
    words = set()
    for synopsis in help_synopses():
        words |= command_words(synopsis)
    return words


def man_command_words():
    """The same from the items of rxmppctl(8)'s COMMANDS section."""
    man = read("packaging/man/rxmppctl.8")
    section = man.split(".SH COMMANDS", 1)[1].split("\n.SH ", 1)[0]
    words = set()
    for item in re.findall(r"^\.TP\n(\.[A-Z]+ .*)$", section, re.M):
        plain = re.sub(r"\\f[A-Z]", "", item.split(" ", 1)[1]).replace("\\-", "-")
        plain = plain.replace('"', "").replace("[", " [")
        for piece in plain.split(","):
            if piece.strip():
                words |= command_words(piece.strip())
    return words


def test_rxmppctl_help_and_man_page_list_the_same_commands():
    in_help = help_command_words()
    assert ("status",) in in_help and ("cluster", "join") in in_help
    assert ("user", "add") in in_help and ("config", "check") in in_help
    in_man = man_command_words()
    assert in_help - in_man == set(), "in rxmppctl --help, not in rxmppctl(8)"
    assert in_man - in_help == set(), "in rxmppctl(8), not in rxmppctl --help"


def run_ctl(*args):
    return subprocess.run([os.path.join(BIN, "rxmppctl"), *args], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_every_rxmppctl_command_answers_help_wherever_the_options_stand(tmp_path):
    # No configuration file at all: help must not need one.
    missing = str(tmp_path / "absent.yaml")
    for words in sorted(help_command_words()):
        for args in ([*words, "--help"], ["-c", missing, *words, "-h"],
                     [*words, "--help", "--json", "--config", missing],
                     ["--json", words[0], "--help", *words[1:]]):
            result = run_ctl(*args)
            assert result.returncode == 0, (args, result.stderr)
            assert result.stdout.startswith(f"usage: rxmppctl {words[0]}"), (args,
                                                                            result.stdout)
    for args in (["--version"], ["status", "--version"], ["-c", missing, "-V"]):
        result = run_ctl(*args)
        assert result.returncode == 0 and re.fullmatch(r"rxmppctl \d+\.\d+\.\d+\n",
                                                       result.stdout), (args, result)


def test_global_options_work_before_and_after_the_command(tmp_path):
    missing = str(tmp_path / "absent.yaml")
    for args in (["-c", missing, "status", "--json"], ["status", "--json", "-c", missing],
                 ["--json", "status", f"--config={missing}"], ["status", f"-c{missing}",
                                                              "--json"]):
        result = run_ctl(*args)
        # Not running: the problems with the file it was pointed at, as JSON.
        assert result.returncode == 1, (args, result.stderr)
        assert '"running": false' in result.stdout and missing in result.stdout, args
    result = run_ctl("status", "extra")
    assert result.returncode == 2 and "usage: rxmppctl status" in result.stderr
    result = run_ctl("status", "-c")
    assert result.returncode == 2 and "-c needs a value" in result.stderr


def test_rxmppd_and_certtool_answer_help_and_version():
    for args in (["--help"], ["-h"]):
        result = subprocess.run([os.path.join(BIN, "rxmppd"), *args], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0 and result.stdout.startswith("usage: rxmppd")
    certtool = os.path.join(BIN, "rxmpp-certtool")
    text = subprocess.run([certtool, "--help"], capture_output=True, text=True,
                          timeout=30).stdout
    for command in {m.group(1) for m in re.finditer(r"^  ([a-z]+)\b", text, re.M)}:
        for args in ([command, "--help"], ["--help", command]):
            result = subprocess.run([certtool, *args], capture_output=True, text=True,
                                    timeout=30)
            assert result.returncode == 0, args
            assert result.stdout.startswith(f"usage: rxmpp-certtool {command}"), args
    for binary in ("rxmppd", "rxmpp-certtool", "rxmppctl"):
        result = subprocess.run([os.path.join(BIN, binary), "--version"],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, binary
        assert re.fullmatch(rf"{binary} \d+\.\d+\.\d+\n", result.stdout), result.stdout


def test_files_the_documentation_names_under_usr_share_are_installed():
    # What `make install` (the packages' install step) would install, without
    # building or installing anything.
    dry = subprocess.run(["make", "-n", "-C", TOP, "install", "PREFIX=/usr", "DESTDIR="],
                         capture_output=True, text=True, timeout=120).stdout
    installed = set(re.findall(r"(/usr/share/rxmpp/[\w.-]+)", dry))
    assert "/usr/share/rxmpp/callbridges.yaml" in installed, dry
    named = set()
    for path in ("packaging/man/rxmpp.yaml.5", "packaging/man/rxmppd.8",
                 "packaging/man/rxmppctl.8", "packaging/man/rxmpp-certtool.1", "README.md"):
        named |= set(re.findall(r"(/usr/share/(?:rxmpp|doc/rxmpp)/[\w.-]*\w)", read(path)))
    assert "/usr/share/rxmpp/rxmpp.yaml" in named
    assert named <= installed, named - installed
