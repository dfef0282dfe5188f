#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Where a routed message spends its instructions: runs one rxmpp node whose
listener and router run under valgrind's callgrind (instruction counts, not
seconds: repeatable on a shared machine), drives `rxmpp-load chat` through
it, and prints each process's top functions per delivered message.

    /usr/bin/python3 tests/bench/profile.py [--pairs 4] [--seconds 5] [--window 8]
        [--both-ways] [--keep DIR]

The log-ins are part of the run; their share is measured separately with
`--seconds 0` and subtracted.  With `--logins N` it counts log-ins instead
(`rxmpp-load setup`, the generator under callgrind too): 2N log-ins minus
N, per log-in, for the server's processes and the client's side.
Everything runs on loopback and every process started is stopped by PID."""

import argparse
import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402
from certs import make_server_certs  # noqa: E402
from rxmpp_node import BIN, copy_bin_with  # noqa: E402

WRAP = """#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file={out}/{name}.%p.out \
    --dump-instr=no --collect-jumps=no {real} "$@"
"""


def profiled_bin(directory, out):
    """A copy of the programs whose listener and router run under callgrind."""
    target = os.path.join(directory, "bin")
    copy_bin_with(directory, "rxmpp-listener", "")
    for name in ("rxmpp-listener", "rxmpp-router"):
        real = os.path.join(BIN, name)
        with open(os.path.join(target, name), "w") as f:
            f.write(WRAP.format(out=out, name=name, real=real))
        os.chmod(os.path.join(target, name), 0o755)
    return target


def total_instructions(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return 0


def function_counts(path):
    """Exclusive instructions by function, as callgrind_annotate reports them."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True, timeout=300).stdout
    counts = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)", line)
        if m and not m.group(2).startswith(("=>", "<", "*")) and ":" in m.group(2):
            name = re.sub(r" \[.*\]$", "", m.group(2))
            counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
    return counts


def top_functions(files, base_files, per, count=14):
    """The functions that grew most from the base run to this one, per
    message (or log-in): what the measured work itself cost, without the
    set-up that both runs share."""
    grown = {}
    for path in files:
        for name, n in function_counts(path).items():
            grown[name] = grown.get(name, 0) + n
    for path in base_files:
        for name, n in function_counts(path).items():
            grown[name] = grown.get(name, 0) - n
    total = sum(grown.values())
    rows = sorted(grown.items(), key=lambda item: -item[1])[:count]
    return [(n / per, 100.0 * n / total if total else 0, name) for name, n in rows]


def run(tmp, certs, pairs, seconds, logins=0, resume=False, chat_args=("--window", "8"),
        cluster=False):
    """Messages routed and each process's instruction counts; with logins,
    that many log-ins and no messages, the generator counted too.  With
    cluster, the node first makes itself a one-node cluster holding the
    cluster's state (issue 15): its accounts are then the ones its elector
    applied from the log, read locally as before."""
    tag = f"{seconds}-{logins}"
    out = os.path.join(tmp, f"callgrind-{tag}")
    os.makedirs(out)
    node_dir = os.path.join(tmp, f"node-{tag}")
    os.makedirs(node_dir)
    bin_dir = profiled_bin(node_dir, out)
    node = bench.Node(node_dir, certs, bin_dir=bin_dir)
    extra = bench.LIMITS
    if cluster:
        extra += (f"cluster:\n  enabled: true\n  port: {bench.free_port(span=2)}\n"
                  f"  trust_bundle: {certs['ca']}\n  peer_names: [test.example]\n")
    node.write_config(log_level="warning", extra=extra)
    if resume:
        text = open(node.config).read().replace(
            "\ntls:\n", f"\ntls:\n  ticket_key: {bench.write_ticket_key(node_dir)}\n")
        node.write_config(text=text)
    for i in range(bench.ACCOUNTS):
        node.add_user(f"bench{i}", bench.PASSWORD)
    node.start(wait_ready=False)
    try:
        bench.wait_until(lambda: bench.ready(node), timeout=120, interval=0.2,
                         what="the node under callgrind")
        if cluster:
            node.ctl("cluster", "initialize")
        if logins:
            generator = os.path.join(out, "rxmpp-load.out")
            command = bench.load_command(
                "setup", ["--sessions", str(logins), "--concurrency", "20"]
                + (["--resume"] if resume else []), [node.client_port],
                node.component_port, certs["ca"], node.proc.pid)
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={generator}",
                            "--dump-instr=no", *command], check=True, capture_output=True,
                           timeout=1800)
            figures = {}
        else:
            figures = bench.load(node, "chat", ["--pairs", str(pairs), "--seconds",
                                                str(seconds), *chat_args],
                                 [node.client_port], node.proc.pid)
    finally:
        node.stop(timeout=120)
    messages = figures.get("delivered_per_s", 0) * seconds
    counts = {}
    if logins:
        counts["rxmpp-load"] = (total_instructions(generator), [generator])
    for name in ("rxmpp-listener", "rxmpp-router"):
        files = glob.glob(os.path.join(out, f"{name}.*.out"))
        counts[name] = (sum(total_instructions(f) for f in files), files)
    return messages, counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--window", type=int, default=8, help="messages in flight per sender")
    parser.add_argument("--both-ways", action="store_true",
                        help="both users of a pair send (as `chat 1000 users` in make bench)")
    parser.add_argument("--logins", type=int, default=0,
                        help="count N log-ins (2N minus N) instead of messages")
    parser.add_argument("--resume", action="store_true",
                        help="with --logins: each client logs in twice, the second time "
                        "resuming its TLS session (the node has a tls.ticket_key): the "
                        "figures are then a full and a resumed log-in together")
    parser.add_argument("--cluster", action="store_true",
                        help="the node is a one-node cluster that holds the cluster's "
                        "state (its accounts come through the elector's log)")
    parser.add_argument("--keep", metavar="DIR",
                        help="run in DIR (new) and keep the callgrind files there, "
                        "for callgrind_annotate --tree=caller")
    args = parser.parse_args()
    if args.keep:
        os.makedirs(args.keep)
    with (contextlib.nullcontext(args.keep) if args.keep
          else tempfile.TemporaryDirectory(prefix="rxmpp-profile-")) as tmp:
        certs = make_server_certs(os.path.join(tmp, "certs"))
        if args.logins:
            _, base = run(tmp, certs, 0, 0, args.logins, args.resume, cluster=args.cluster)
            _, counts = run(tmp, certs, 0, 0, 2 * args.logins, args.resume,
                            cluster=args.cluster)
            report = {"logins": args.logins}
            for name, (total, files) in counts.items():
                report[name] = (total - base[name][0]) / args.logins
                print(f"\n{name}: {report[name]:,.0f} instructions per log-in")
                for per, share, function in top_functions(files, base[name][1], args.logins):
                    print(f"  {per:9,.0f} {share:5.1f}%  {function}")
            print(json.dumps(report))
            return
        chat_args = ["--window", str(args.window)] + (["--both-ways"] if args.both_ways else [])
        _, base = run(tmp, certs, args.pairs, 0, chat_args=chat_args)
        messages, counts = run(tmp, certs, args.pairs, args.seconds, chat_args=chat_args)
        report = {"messages": messages}
        print(f"{messages:.0f} messages routed under callgrind")
        for name, (total, files) in counts.items():
            per_message = (total - base[name][0]) / messages if messages else 0
            report[name] = per_message
            print(f"\n{name}: {per_message:,.0f} instructions per message "
                  f"(log-ins subtracted)")
            if messages:
                for per, share, function in top_functions(files, base[name][1], messages):
                    print(f"  {per:9,.0f} {share:5.1f}%  {function}")
        print(json.dumps(report))


if __name__ == "__main__":
    main()
