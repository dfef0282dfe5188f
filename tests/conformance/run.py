#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs the scripted conversations (tests/conformance/README.md) against
rxmpp and Prosody.

  run.py [--server rxmpp|rxmpp3|prosody]... [--expected] [SCRIPT...]

rxmpp is one node; rxmpp3 a 3-node cluster with the script's clients
spread over its nodes.

Prints PASS/FAIL per script and server with the first mismatch, then, with
two servers, a table script x server and the first difference of each
script on which they differ; ends with a summary line.  --expected runs
only the scripts whose `requires:` features rxmpp has (rxmpp.features):
what `make check` runs.  The exit status is 1 when a script fails that must
pass: on Prosody every script but those with a `prosody-fails:` header (a
difference of Prosody's, DIFFERENCES.md), which must fail there; on rxmpp
those whose features rxmpp has (one node or three)."""

import argparse
import glob
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from certs import make_server_certs  # noqa: E402
from conversation import ScriptError, parse  # noqa: E402
from runner import account_name, run_script  # noqa: E402
from servers import SERVERS  # noqa: E402


def rxmpp_features(path=os.path.join(HERE, "rxmpp.features")):
    """The features rxmpp has so far: one a line, # comments."""
    with open(path) as f:
        return {line.split("#", 1)[0].strip() for line in f} - {""}


def load(paths):
    scripts = []
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            try:
                scripts.append(parse(f.read(), name))
            except ScriptError as e:
                sys.exit(f"{path}: {e}")
    return scripts


def indent(text, pad="    "):
    return "\n".join(pad + line for line in text.split("\n"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", choices=sorted(SERVERS))
    parser.add_argument("--expected", action="store_true",
                        help="only the scripts rxmpp is expected to pass")
    parser.add_argument("scripts", nargs="*")
    args = parser.parse_args()
    servers = args.server or ["rxmpp"]
    paths = args.scripts or sorted(glob.glob(os.path.join(HERE, "scripts", "*.conv")))
    scripts = load(paths)
    has = rxmpp_features()
    expected = {s.name: set(s.requires) <= has for s in scripts}
    if args.expected:
        scripts = [s for s in scripts if expected[s.name]]
    if not scripts:
        sys.exit("no scripts to run")
    accounts = sorted({account_name(s, u) for s in scripts for u in s.users()})

    results = {}
    sanitizer = []
    with tempfile.TemporaryDirectory(prefix="rxmpp-conformance-") as top:
        certs = make_server_certs(os.path.join(top, "certs"))
        for name in servers:
            try:
                server = SERVERS[name](os.path.join(top, name), certs).start(accounts)
            except RuntimeError as e:
                sys.exit(f"{name} did not start: {e}")
            try:
                for script in scripts:
                    result = run_script(script, server)
                    results[(script.name, name)] = result
                    verdict = "PASS" if result.passed else "FAIL"
                    if name != "prosody" and not expected[script.name]:
                        lacks = " ".join(sorted(set(script.requires) - has))
                        verdict += (f" (expected: rxmpp lacks {lacks})" if not result.passed else
                                    f" (not expected: add {lacks} to rxmpp.features?)")
                    if name == "prosody" and script.prosody_fails:
                        verdict += (" (a known Prosody difference: " if not result.passed else
                                    " (but its prosody-fails header says it fails: ") + \
                            script.prosody_fails + ")"
                    print(f"{name:8} {script.name:24} {verdict}", flush=True)
                    if not result.passed:
                        print(indent(result.describe()), flush=True)
            finally:
                reports = server.stop()
            if reports:
                print(f"{name}: sanitizer reports:\n" + "\n".join(reports), flush=True)
                sanitizer.append(name)

    must_fail = [f"sanitizer reports from {name}" for name in sanitizer]
    if len(servers) > 1:
        width = max(len(s.name) for s in scripts)
        print()
        print(f"{'script':{width}}  " + "  ".join(f"{n:8}" for n in servers))
        for s in scripts:
            print(f"{s.name:{width}}  " + "  ".join(
                f"{'PASS' if results[(s.name, n)].passed else 'FAIL':8}" for n in servers))
        for s in scripts:
            first = [results[(s.name, n)] for n in servers]
            if len({r.key() for r in first}) > 1:
                print(f"\n{s.name}: the servers differ ({s.checks})")
                for n, r in zip(servers, first):
                    print(f"  {n}:")
                    print(indent(r.describe()))
    passed = failed = 0
    known = {s.name: s.prosody_fails for s in scripts}
    for (script_name, server_name), r in results.items():
        if server_name == "prosody" and known[script_name] and r.passed:
            must_fail.append(f"{script_name} passes on prosody against its prosody-fails header")
        if r.passed:
            passed += 1
            continue
        failed += 1
        if (server_name == "prosody" and not known[script_name]) or \
                (server_name != "prosody" and expected[script_name]):
            must_fail.append(f"{script_name} on {server_name}")
    print(f"\n{passed} passed, {failed} failed; unexpected: {', '.join(must_fail) or 'none'}")
    return 1 if must_fail else 0


if __name__ == "__main__":
    sys.exit(main())
