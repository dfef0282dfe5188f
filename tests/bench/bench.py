#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`make bench`: the standard benchmark set against rxmpp, one node and a
3-node loopback cluster, driven by the C load generator rxmpp-load (this
script only starts the servers and collects the figures; nothing of the
measured traffic goes through Python).  Prints a table with the median and
min-max of each figure over --runs runs, and the load generator's own CPU
beside the server's; --json FILE keeps every run.

Everything runs on loopback, each run is bounded in time, and every process
started is stopped by PID (tests/integration/rxmpp_node.py)."""

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
import cluster_state  # noqa: E402
from certs import make_server_certs  # noqa: E402
from rxmpp_node import BUILD, Node, free_port, wait_until  # noqa: E402

LOAD = os.path.join(BUILD, "tests", "rxmpp-load")
PASSWORD = "bench-password"
BRIDGE_SECRET = "bench-bridge-secret"
ACCOUNTS = 40
BRIDGES = 2
# Clients of the leader that log in again on the survivors after it dies,
# all at once by default: the crowd a failed node leaves (issue 16).
STORM = 10000
RELOGIN_CONCURRENCY = None  # None: all of them at once
# Clients with stream management (XEP-0198) on a follower that is killed:
# they resume their sessions on the survivors (issue 17; 10,000 by hand
# with --sm-clients).  Each exchanges one numbered message a second each
# way with a peer on a survivor.
SM_CLIENTS = 1000
SM_INTERVAL_MS = 1000
# One peer per client up to this many (beyond, a peer talks with several):
# the generator holds clients and peers in one process, whose descriptors
# are limited (20,000 here).
SM_PEERS_MAX = 5000
# With stream management, a client asks for an ack after every SM_ACK
# stanzas it sends and gives one after every SM_ACK it receives.
SM_ACK = 10
# Every storm client of the failover scenario is a resource of one of
# ACCOUNTS accounts: far more than the default 64 resources per user.  The
# generator opens thousands of connections from loopback as fast as it
# can, as a trusted gateway would: exempt from the per-address limits.
LIMITS = ("limits:\n  max_sessions: none\n  max_resources_per_user: none\n"
          "  trusted_networks: [127.0.0.0/8, \"::1\"]\n")

# name, scenario, arguments; the figures each reports are in docs/PERFORMANCE.md.
SINGLE = [
    ("idle 1000", "idle", ["--sessions", "1000"]),
    ("idle 10000", "idle", ["--sessions", "10000", "--concurrency", "100"]),
    ("setup 500", "setup", ["--sessions", "500", "--concurrency", "50"]),
    ("chat 20 pairs", "chat", ["--pairs", "20", "--seconds", "10", "--window", "16"]),
    # Many users, each with one message in flight to the other of its pair:
    # little to batch, so the cost of every single message shows (issue 21).
    ("chat 1000 users", "chat",
     ["--pairs", "500", "--seconds", "20", "--window", "1", "--both-ways"]),
    ("bridges 20 users, 2 bridges", "bridges",
     ["--pairs", "20", "--bridges", str(BRIDGES), "--seconds", "10", "--window", "8"]),
]
CLUSTER = [
    ("cluster-chat 20 pairs", "cluster-chat",
     ["--pairs", "20", "--seconds", "10", "--window", "16"]),
]
# What stream management costs, beside the same without it (issue 17):
# memory per session on the node and on its keeper (the leader, for the
# sessions of a follower), CPU per message (and per ack) across the cluster.
SM_COSTS = [
    ("sm-costs idle 1000 off", "idle", ["--sessions", "1000", "--concurrency", "50"]),
    ("sm-costs idle 1000 on", "idle",
     ["--sessions", "1000", "--concurrency", "50", "--sm", "--sm-ack", str(SM_ACK)]),
    ("sm-costs chat 20 pairs off", "cluster-chat",
     ["--pairs", "20", "--seconds", "10", "--window", "16"]),
    ("sm-costs chat 20 pairs on", "cluster-chat",
     ["--pairs", "20", "--seconds", "10", "--window", "16", "--sm", "--sm-ack", str(SM_ACK)]),
    # Every stanza acknowledged on its own, both ways: the most acks.
    ("sm-costs chat 20 pairs on, ack 1", "cluster-chat",
     ["--pairs", "20", "--seconds", "10", "--window", "16", "--sm", "--sm-ack", "1"]),
]


def write_ticket_key(directory):
    """A cluster's TLS ticket key (tls.ticket_key): one file every node
    names, readable by its owner only."""
    path = os.path.join(directory, "ticket.key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def start_node(directory, certs, cluster_port=None, component_tls="direct", ticket_key=None,
               accounts_from=None, cluster_extra=""):
    """`cluster_extra`: more lines of the cluster: section."""
    extra = LIMITS
    if cluster_port:
        extra += (f"cluster:\n  enabled: true\n  port: {cluster_port}\n"
                  f"  trust_bundle: {certs['ca']}\n  peer_names: [test.example]\n"
                  + cluster_extra)
    node = Node(directory, certs)
    node.cluster_port = cluster_port
    node.write_config(log_level="warning", extra=extra)
    text = open(node.config).read().replace(
        "listen:\n", f"listen:\n  component_tls: {component_tls}\n")
    if ticket_key:
        text = text.replace("\ntls:\n", f"\ntls:\n  ticket_key: {ticket_key}\n")
    node.write_config(text=text)
    if accounts_from:
        # The same keys as that node's: merged as identical when it joins
        # (accounts are the cluster's state; the same names added here
        # would get other salts, and a join refuses keys that differ).
        os.makedirs(os.path.join(directory, "state"), exist_ok=True)
        shutil.copy(accounts_from, os.path.join(directory, "state", "accounts"))
    else:
        for i in range(ACCOUNTS):
            node.add_user(f"bench{i}", PASSWORD)
    node.write_bridges({f"cb{i}": BRIDGE_SECRET for i in range(BRIDGES)})
    node.start(wait_ready=False)
    wait_until(lambda: ready(node), timeout=60, interval=0.1, what="the node to be ready")
    return node


def ready(node):
    result = node.ctl("status", "--json", check=False)
    return result.returncode == 0 and json.loads(result.stdout)["ready"]


def load_command(scenario, args, ports, component_port, ca, root):
    """rxmpp-load for a server with the benchmark's accounts and bridges
    (also what peers.py runs against the other servers)."""
    return [LOAD, scenario, "--json", "--port", ",".join(str(p) for p in ports),
            "--component-port", str(component_port), "--ca", ca, "--accounts", str(ACCOUNTS),
            "--password", PASSWORD, "--bridge-secret", BRIDGE_SECRET, "--server-root",
            str(root), *args]


def load(node, scenario, args, ports, root):
    command = load_command(scenario, args, ports, node.component_port, node.certs["ca"], root)
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    # What the generator saw go wrong (a client cut off, one that gave up).
    sys.stderr.write(result.stderr[-4000:])
    if result.returncode != 0:
        raise RuntimeError(f"rxmpp-load {scenario} failed (exit status "
                           f"{result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout)


def single_node_runs(tmp, certs, only=None):
    results = {}
    for name, scenario, args in SINGLE:
        if only and name not in only:
            continue
        # A fresh node per scenario: one's leftovers do not weigh on the next.
        directory = os.path.join(tmp, f"single-{scenario}")
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        node = start_node(directory, certs)
        try:
            results[name] = load(node, scenario, args, [node.client_port], node.proc.pid)
        finally:
            node.stop()
    return results


def form_cluster(directory, nodes, certs):
    """Three nodes in `directory`, appended to `nodes` (the caller stops
    them); returns the two followers."""
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    # The nodes share a ticket key, as a cluster should (rxmpp.yaml(5)).
    ticket_key = write_ticket_key(directory)
    for i in range(3):
        os.makedirs(os.path.join(directory, str(i)))
        nodes.append(start_node(
            os.path.join(directory, str(i)), certs, cluster_port=free_port(span=2),
            ticket_key=ticket_key,
            accounts_from=os.path.join(nodes[0].dir, "state", "accounts") if nodes else None))
    first = nodes[0]
    first.ctl("cluster", "initialize")
    address = f"127.0.0.1:{first.cluster_port}"
    for node in nodes[1:]:
        node.ctl("cluster", "join", address)
    wait_until(lambda: all(len(cluster_status(n)["members"]) == 3 for n in nodes),
               timeout=30, what="the cluster to form")
    return [n for n in nodes if cluster_status(n)["state"] != "LEADER"]


def node_pids(node):
    return [node.proc.pid] + [p["pid"] for p in node.status()["processes"] if p["pid"]]


def cluster_runs(tmp, certs, storm=STORM, relogin_concurrency=RELOGIN_CONCURRENCY,
                 failover_only=False, resume=True):
    nodes = []
    try:
        followers = form_cluster(os.path.join(tmp, "cluster"), nodes, certs)
        results = {}
        for name, scenario, args in ([] if failover_only else CLUSTER):
            # Sender on one follower, receiver on the other: every message
            # crosses the leader.  The server is all three nodes.
            results[name] = load(followers[0], scenario, args,
                                 [followers[0].client_port, followers[1].client_port],
                                 os.getpid())
        # Last, as the leader does not survive it: steady traffic between
        # the followers and to a bridge, STORM clients on the leader, then
        # kill -9 of every process of the leader.
        leader = next(n for n in nodes if n not in followers)
        pids = node_pids(leader)
        results["failover"] = load(
            followers[0], "failover",
            ["--pairs", "10", "--rate", "20", "--seconds", "10", "--kill-after", "3",
             "--sessions", str(storm), "--concurrency", "100",
             "--relogin-concurrency", str(relogin_concurrency or storm),
             "--kill-pids", ",".join(str(p) for p in pids)] + (["--resume"] if resume else []),
            [leader.client_port, followers[0].client_port, followers[1].client_port],
            os.getpid())
        return results
    finally:
        for node in nodes:
            node.stop()


def sm_runs(tmp, certs, sm_clients=SM_CLIENTS, sm_interval=SM_INTERVAL_MS,
            relogin_concurrency=RELOGIN_CONCURRENCY, failover_only=False):
    """Stream management in 3-node clusters of their own (a follower does
    not survive the failover): what it costs (SM_COSTS), then the failover
    of `sm_clients` clients with stream management on a follower killed
    with SIGKILL, resuming on the survivors."""
    results = {}
    for name, scenario, args in ([] if failover_only else SM_COSTS):
        nodes = []
        try:
            # A fresh cluster each: memory a run freed would be reused by
            # the next and hide its cost.
            followers = form_cluster(os.path.join(tmp, "cluster-sm"), nodes, certs)
            leader = next(n for n in nodes if n not in followers)
            if scenario == "idle":
                # The sessions on a follower, measured there; their keeper
                # is the leader, measured apart.
                results[name] = load(followers[0], scenario,
                                     args + ["--keeper-root", str(leader.proc.pid)],
                                     [followers[0].client_port], followers[0].proc.pid)
            else:
                results[name] = load(followers[0], scenario, args,
                                     [followers[0].client_port, followers[1].client_port],
                                     os.getpid())
        finally:
            for node in nodes:
                node.stop()
    nodes = []
    try:
        killed, other = form_cluster(os.path.join(tmp, "cluster-sm"), nodes, certs)
        leader = next(n for n in nodes if n not in (killed, other))
        # The survivors: the leader (the keeper) and the other follower,
        # which also holds the bridge.
        results[f"failover SM {sm_clients}"] = load(
            other, "failover",
            ["--pairs", "10", "--rate", "20", "--seconds", "10", "--kill-after", "3",
             "--sessions", "0", "--concurrency", "100",
             "--relogin-concurrency", str(relogin_concurrency or sm_clients),
             "--sm-clients", str(sm_clients), "--sm-interval", str(sm_interval),
             "--sm-peers", str(min(sm_clients, SM_PEERS_MAX)),
             "--sm-ack", str(SM_ACK), "--kill-pids", ",".join(str(p) for p in node_pids(killed))],
            [killed.client_port, leader.client_port, other.client_port], os.getpid())
    finally:
        for node in nodes:
            node.stop()
    return results


def cluster_status(node):
    return json.loads(node.ctl("cluster", "status", "--json").stdout)


def summarize(runs):
    """name -> figure -> (median, min, max) over the runs."""
    table = {}
    for name in runs[0]:
        table[name] = {}
        for figure, value in runs[0][name].items():
            if figure == "scenario":
                continue
            values = [run[name][figure] for run in runs]
            table[name][figure] = (statistics.median(values), min(values), max(values))
    return table


def print_table(table, count):
    print(f"\nrxmpp benchmarks: median (min-max) of {count} run(s)")
    for name, figures in table.items():
        print(f"\n{name}")
        for figure, (median, low, high) in figures.items():
            spread = f"  ({low:.4g}-{high:.4g})" if count > 1 else ""
            print(f"  {figure:26s} {median:12.4g}{spread}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", help="write every run's figures to this file")
    parser.add_argument("--no-cluster", action="store_true")
    parser.add_argument("--no-single", action="store_true")
    parser.add_argument("--storm", type=int, default=STORM,
                        help="clients on the leader in the failover scenario")
    parser.add_argument("--relogin-concurrency", type=int, default=RELOGIN_CONCURRENCY,
                        help="failover: re-log-ins under way at once (default: all)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this one-node scenario (by its name, e.g. "
                        "'chat 1000 users'; repeatable; implies --no-cluster)")
    parser.add_argument("--no-state", action="store_true",
                        help="skip the cluster's replicated state (tests/bench/cluster_state.py: "
                        "committed writes/s, user add to log-in elsewhere, snapshot install)")
    parser.add_argument("--failover-only", action="store_true",
                        help="of the cluster scenarios, only the failover (implies --no-single)")
    parser.add_argument("--sm-clients", type=int, default=SM_CLIENTS,
                        help="failover SM: clients with stream management on the follower "
                        "killed, resuming on the survivors")
    parser.add_argument("--sm-interval", type=int, default=SM_INTERVAL_MS,
                        help="failover SM: ms between two messages of a flow (each way)")
    parser.add_argument("--sm-only", action="store_true",
                        help="only the stream management scenarios: its costs in a cluster "
                        "and the failover of its clients (implies --no-single)")
    parser.add_argument("--no-sm", action="store_true",
                        help="skip the stream management scenarios")
    parser.add_argument("--no-resume", action="store_true",
                        help="failover: the storm's clients keep no TLS session, so none "
                        "resumes on a survivor (by default they offer the leader's tickets)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rxmpp-bench-") as tmp:
        certs = make_server_certs(os.path.join(tmp, "certs"))
        for run in range(args.runs):
            print(f"run {run + 1} of {args.runs}", flush=True)
            single = not args.no_single and not args.failover_only and not args.sm_only
            figures = single_node_runs(tmp, certs, args.only) if single else {}
            cluster = not args.no_cluster and not args.only
            if cluster and not args.sm_only:
                figures.update(cluster_runs(tmp, certs, args.storm, args.relogin_concurrency,
                                            args.failover_only, not args.no_resume))
            if cluster and not args.no_sm:
                figures.update(sm_runs(tmp, certs, args.sm_clients, args.sm_interval,
                                       args.relogin_concurrency, args.failover_only))
            if cluster and not args.failover_only and not args.sm_only and not args.no_state:
                # Only the numbers: the table takes their medians.
                for name, values in cluster_state.run(tmp, certs).items():
                    figures[name] = {k: v for k, v in values.items()
                                     if isinstance(v, (int, float))}
            runs.append(figures)
    print_table(summarize(runs), len(runs))
    print(f"\n{len(runs)} run(s) in {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
