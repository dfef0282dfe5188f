#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Counts false elections under load (issue 19): a 3-node loopback cluster
with the given heartbeat and election timeouts carries `make bench`'s
cluster-chat load (20 pairs, window 16, sender on one follower, receiver
on the other: every message crosses the leader) for --seconds, and every
term change and leader loss the nodes log meanwhile is counted.  No node
fails during the run, so every election it counts is a false one.  Prints
the machine's load average once a minute and a JSON summary at the end.

Everything runs on loopback, the run is bounded in time, and every process
started is stopped by PID (tests/integration/rxmpp_node.py)."""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import bench  # noqa: E402
from certs import make_server_certs  # noqa: E402
from rxmpp_node import free_port, wait_until  # noqa: E402

# What the elector logs when a follower gives up on its leader, and when a
# node takes the lead (elector/elector_io.c).
LOST = re.compile(r"lost the leader")
LEADS = re.compile(r"this node leads the cluster in term (\d+)")
WARNING = re.compile(r"<[0-4]>")


def cluster_config(heartbeat, timeout_min, timeout_max, certs, port):
    return (f"cluster:\n  enabled: true\n  port: {port}\n"
            f"  trust_bundle: {certs['ca']}\n  peer_names: [test.example]\n"
            f"  heartbeat_interval: {heartbeat}\n"
            f"  election_timeout_min: {timeout_min}\n"
            f"  election_timeout_max: {timeout_max}\n")


def start(directory, certs, settings, accounts_from=None):
    node = bench.Node(directory, certs)
    node.cluster_port = free_port(span=2)
    # Info level: the leader changes are logged at info and warning.
    # The receivers of cluster-chat never send, and the listener closes a
    # client silent for limits.idle_timeout (5 minutes): past it the flows
    # would end with their windows bounced, and the run measure nothing.
    node.write_config(log_level="info",
                      extra=bench.LIMITS + "  idle_timeout: 1d\n" +
                      cluster_config(*settings, certs, node.cluster_port))
    text = open(node.config).read().replace("listen:\n", "listen:\n  component_tls: direct\n")
    node.write_config(text=text)
    if accounts_from:
        # Node 0's keys: merged as identical when this node joins.
        os.makedirs(os.path.join(directory, "state"), exist_ok=True)
        shutil.copy(accounts_from, os.path.join(directory, "state", "accounts"))
    else:
        for i in range(bench.ACCOUNTS):
            node.add_user(f"bench{i}", bench.PASSWORD)
    node.write_bridges({f"cb{i}": bench.BRIDGE_SECRET for i in range(bench.BRIDGES)})
    node.start(wait_ready=False)
    wait_until(lambda: bench.ready(node), timeout=60, interval=0.1, what="the node to be ready")
    return node


def loadavg_sampler(samples, stop):
    while not stop.wait(60):
        with open("/proc/loadavg") as f:
            samples.append(f.read().split()[:3])
        print(f"load average {' '.join(samples[-1])}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--heartbeat", default="100ms")
    parser.add_argument("--election-timeout-min", default="500ms")
    parser.add_argument("--election-timeout-max", default="1000ms")
    args = parser.parse_args()
    settings = (args.heartbeat, args.election_timeout_min, args.election_timeout_max)
    nodes = []
    samples = []
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="rxmpp-elections-") as tmp:
        certs = make_server_certs(tmp)
        try:
            for i in range(3):
                os.makedirs(os.path.join(tmp, str(i)))
                nodes.append(start(
                    os.path.join(tmp, str(i)), certs, settings,
                    os.path.join(nodes[0].dir, "state", "accounts") if nodes else None))
            nodes[0].ctl("cluster", "initialize")
            for node in nodes[1:]:
                node.ctl("cluster", "join", f"127.0.0.1:{nodes[0].cluster_port}")
            wait_until(lambda: all(len(bench.cluster_status(n)["members"]) == 3 for n in nodes),
                       timeout=30, what="the cluster to form")
            views = [bench.cluster_status(n) for n in nodes]
            followers = [n for n, v in zip(nodes, views) if v["state"] != "LEADER"]
            terms_before = [v["term"] for v in views]
            marks = [n.log_mark() for n in nodes]
            sampler = threading.Thread(target=loadavg_sampler, args=(samples, stop), daemon=True)
            sampler.start()
            started = time.monotonic()
            figures = bench.load(followers[0], "cluster-chat",
                                 ["--pairs", "20", "--seconds", str(args.seconds), "--window", "16"],
                                 [followers[0].client_port, followers[1].client_port],
                                 os.getpid())
            elapsed = time.monotonic() - started
            stop.set()
            terms_after = [bench.cluster_status(n)["term"] for n in nodes]
            lost = leads = 0
            for node, mark in zip(nodes, marks):
                with node.lock:
                    lines = node.lines[mark:]
                lost += sum(1 for line in lines if LOST.search(line))
                leads += sum(1 for line in lines if LEADS.search(line))
                # Elections, and whatever else went wrong meanwhile.
                for line in lines:
                    if LOST.search(line) or LEADS.search(line) or WARNING.search(line):
                        print(line, file=sys.stderr)
            print(json.dumps({
                "heartbeat_interval": args.heartbeat,
                "election_timeout": f"{args.election_timeout_min}-{args.election_timeout_max}",
                "seconds": round(elapsed),
                "terms_before": terms_before, "terms_after": terms_after,
                "term_changes": max(terms_after) - max(terms_before),
                "leader_lost_lines": lost, "new_leader_lines": leads,
                "loadavg_per_minute": samples,
                "load": figures,
            }, indent=1))
        finally:
            stop.set()
            for node in nodes:
                node.stop()


if __name__ == "__main__":
    main()
