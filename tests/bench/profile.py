#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Where a routed message spends its instructions: runs one rxmpp node whose
listener and router run under valgrind's callgrind (instruction counts, not
seconds: repeatable on a shared machine), drives `rxmpp-load chat` through
it, and prints each process's top functions per delivered message.

    /usr/bin/python3 tests/bench/profile.py [--pairs 4] [--seconds 5] [--keep DIR]

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


def top_functions(path, count=12):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", path], capture_output=True,
                         text=True, timeout=300).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)))
    return rows[:count]


def run(tmp, certs, pairs, seconds, logins=0, resume=False):
    """Messages routed and each process's instruction counts; with logins,
    that many log-ins and no messages, the generator counted too."""
    tag = f"{seconds}-{logins}"
    out = os.path.join(tmp, f"callgrind-{tag}")
    os.makedirs(out)
    node_dir = os.path.join(tmp, f"node-{tag}")
    os.makedirs(node_dir)
    bin_dir = profiled_bin(node_dir, out)
    node = bench.Node(node_dir, certs, bin_dir=bin_dir)
    node.write_config(log_level="warning", extra=bench.LIMITS)
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
                                                str(seconds), "--window", "8"],
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
    parser.add_argument("--logins", type=int, default=0,
                        help="count N log-ins (2N minus N) instead of messages")
    parser.add_argument("--resume", action="store_true",
                        help="with --logins: each client logs in twice, the second time "
                        "resuming its TLS session (the node has a tls.ticket_key): the "
                        "figures are then a full and a resumed log-in together")
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
            _, base = run(tmp, certs, 0, 0, args.logins, args.resume)
            _, counts = run(tmp, certs, 0, 0, 2 * args.logins, args.resume)
            report = {"logins": args.logins}
            for name, (total, files) in counts.items():
                report[name] = (total - base[name][0]) / args.logins
                print(f"\n{name}: {report[name]:,.0f} instructions per log-in")
                for instructions, share, function in top_functions(files[0]):
                    print(f"  {share:5.1f}%  {function}")
            print(json.dumps(report))
            return
        _, base = run(tmp, certs, args.pairs, 0)
        messages, counts = run(tmp, certs, args.pairs, args.seconds)
        report = {"messages": messages}
        print(f"{messages:.0f} messages routed under callgrind")
        for name, (total, files) in counts.items():
            per_message = (total - base[name][0]) / messages if messages else 0
            report[name] = per_message
            print(f"\n{name}: {per_message:,.0f} instructions per message "
                  f"(log-ins subtracted)")
            for instructions, share, function in top_functions(files[0]):
                print(f"  {share:5.1f}%  {function}")
        print(json.dumps(report))


if __name__ == "__main__":
    main()
