#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`make bench`'s figures for the cluster's replicated state (issue 15), on
a 3-node loopback cluster:

* committed writes a second: account changes (user add) sent through the
  control sockets of all three nodes at once, as rxmppctl sends them
  (PROTO_PROPOSE, answered once committed and applied, common/proto.h),
  many in flight at a time;
* the time from `rxmppctl user add` returning on one node to a successful
  log-in of that user on another (median and p99 over --logins users);
* the snapshot of --snapshot-accounts accounts: its size, the committed
  writes a second again with that many accounts held, and how long a
  fourth node that joins takes to hold all of them.

    /usr/bin/python3 tests/bench/cluster_state.py [--writes N] [--connections C]
        [--window W] [--logins K] [--snapshot-accounts A] [--keep DIR]

The commands are made here ahead of time: hashing a password into SCRAM
keys is the client's work (rxmppctl does it before it sends), so the keys
are derived once and every account of the write test carries the same
ones; what is measured is the server's path (control socket, supervisor,
elector, log, commit, apply, the accounts file).  Everything runs on
loopback; every process started is stopped by PID."""

import argparse
import hashlib
import hmac
import json
import os
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402
from certs import make_server_certs  # noqa: E402
from raw import Raw  # noqa: E402
from rxmpp_node import free_port, wait_until  # noqa: E402
from test_cluster_log import TYPES  # noqa: E402

# common/proto.h: enum proto_type and enum proto_propose_status.
PROTO_CTL_RESULT = TYPES["PROTO_CTL_RESULT"]
PROTO_PROPOSE = TYPES["PROTO_PROPOSE"]
PROTO_PROPOSE_RESULT = TYPES["PROTO_PROPOSE_RESULT"]
STATUS = ["applied", "committed", "refused", "unknown"]
# elector/elector_machine.h: command format and operations.
MACHINE_FORMAT, USER_ADD, MERGE = 1, 1, 7
MACHINE_REFUSED = 2  # enum elector_machine_status
COMMAND_MAX = 8192
HEADER = struct.Struct("=HHIQ")  # struct ipc_header, host order
RESULT = struct.Struct("=IIQQIIII")  # struct proto_propose_result
# Control clients at once per node: the supervisor takes 16
# (CONTROL_CLIENTS_MAX); some are left for rxmppctl.  With 6 in flight on
# each, 216 writes are under way: the leader's elector takes 256
# (ELECTOR_WRITE_PENDING_MAX, forwarded ones included).
CONNECTIONS_MAX = 12


def scram_keys(password, salt, iterations=4096):
    """keys[SCRAM_HASH_COUNT] as the machine's commands carry them."""
    out = b""
    for name in ("sha1", "sha256"):
        salted = hashlib.pbkdf2_hmac(name, password.encode(), salt, iterations)
        client = hmac.new(salted, b"Client Key", name).digest()
        stored = hashlib.new(name, client).digest()
        server = hmac.new(salted, b"Server Key", name).digest()
        out += struct.pack(">IB", iterations, len(salt)) + salt + stored + server
    return out


def account(name, keys):
    return struct.pack(">H", len(name)) + name.encode() + keys


def user_add(name, keys):
    return struct.pack(">BB", MACHINE_FORMAT, USER_ADD) + account(name, keys)


def merges(names, keys):
    """MERGE commands of as many accounts as fit in one command each."""
    commands, batch = [], []
    # A MERGE lists its accounts in byte order (the machine refuses others).
    names = sorted(names)
    per = (COMMAND_MAX - 10) // len(account(max(names, key=len), keys))
    for i in range(0, len(names), per):
        batch = names[i:i + per]
        commands.append(struct.pack(">BBII", MACHINE_FORMAT, MERGE, len(batch), 0) +
                        b"".join(account(n, keys) for n in batch))
    return commands


def frame(command):
    payload = struct.pack("=II", len(command), 0) + command
    return HEADER.pack(PROTO_PROPOSE, 0, HEADER.size + len(payload), 0) + payload


class Connection:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.inbuf = b""
        self.out = b""
        self.in_flight = 0

    def read_answers(self):
        """The complete answers received: a list of (status, outcome)."""
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return []
        if not data:
            raise RuntimeError("rxmppd closed a control connection")
        self.inbuf += data
        answers = []
        while len(self.inbuf) >= HEADER.size:
            kind, _, length, _ = HEADER.unpack_from(self.inbuf)
            if len(self.inbuf) < length:
                break
            body, self.inbuf = self.inbuf[HEADER.size:length], self.inbuf[length:]
            if kind == PROTO_CTL_RESULT:
                raise RuntimeError(f"rxmppd: {body[8:].decode(errors='replace')}")
            if kind != PROTO_PROPOSE_RESULT:
                raise RuntimeError(f"an answer of type {kind}, not PROPOSE_RESULT")
            head = RESULT.unpack(body[:RESULT.size])
            status, outcome, outcome_len = head[0], head[1], head[6]
            text = body[RESULT.size + outcome_len:].decode(errors="replace")
            answers.append((STATUS[status], outcome, text))
        return answers


def propose_all(nodes, commands, connections=CONNECTIONS_MAX, window=6, timeout=600):
    """Sends every command, spread over `connections` control connections
    per node with at most `window` unanswered on each; returns the seconds
    from the first send to the last answer and the count of each status."""
    conns = [Connection(n.control) for n in nodes for _ in range(connections)]
    selector = selectors.DefaultSelector()
    for c in conns:
        selector.register(c.sock, selectors.EVENT_READ, c)
    todo = list(reversed(commands))
    counts = {s: 0 for s in STATUS}
    refused_by_machine = 0
    why = []  # the first few distinct texts of refusals
    answered = 0
    started = time.monotonic()
    deadline = started + timeout
    while answered < len(commands):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{answered} of {len(commands)} answered in {timeout} s")
        for c in conns:
            while todo and c.in_flight < window:
                c.out += frame(todo.pop())
                c.in_flight += 1
            if c.out:
                try:
                    sent = c.sock.send(c.out)
                    c.out = c.out[sent:]
                except BlockingIOError:
                    pass
        for key, _ in selector.select(timeout=1):
            c = key.data
            for status, outcome, text in c.read_answers():
                if status in ("refused", "unknown") and len(why) < 3 and text not in why:
                    why.append(text)
                c.in_flight -= 1
                answered += 1
                counts[status] += 1
                refused_by_machine += (status in ("applied", "committed")
                                       and outcome == MACHINE_REFUSED)
    elapsed = time.monotonic() - started
    for c in conns:
        selector.unregister(c.sock)
        c.sock.close()
    counts["refused by the state machine"] = refused_by_machine
    counts["why refused"] = why
    return elapsed, counts


def form_cluster(directory, certs, snapshot_entries, nodes, count=3):
    """Into `nodes` (the caller stops them, whatever fails here)."""
    extra = f"  snapshot_entries: {snapshot_entries}\n"
    for i in range(count):
        os.makedirs(os.path.join(directory, str(i)))
        # The others with node 0's keys: merged as identical at the join.
        nodes.append(bench.start_node(
            os.path.join(directory, str(i)), certs, cluster_port=free_port(span=2),
            cluster_extra=extra,
            accounts_from=os.path.join(nodes[0].dir, "state", "accounts") if nodes else None))
    nodes[0].ctl("cluster", "initialize")
    for node in nodes[1:]:
        node.ctl("cluster", "join", f"127.0.0.1:{nodes[0].cluster_port}")
    wait_until(lambda: all(len(bench.cluster_status(n)["members"]) == count for n in nodes),
               timeout=60, what="the cluster to form")


def user_count(node):
    return len(node.ctl("user", "list").stdout.split())


def load_average():
    return os.getloadavg()[0]


def write_rate(nodes, count, connections, window, keys, prefix="w"):
    commands = [user_add(f"{prefix}{i}", keys) for i in range(count)]
    load = load_average()
    elapsed, counts = propose_all(nodes, commands, connections, window)
    ok = counts["applied"] + counts["committed"] - counts["refused by the state machine"]
    return {"writes": count, "in flight": len(nodes) * connections * window,
            "committed writes/s": ok / elapsed, "seconds": elapsed,
            "applied on all": counts["applied"], "committed, not yet on all": counts["committed"],
            "refused": counts["refused"] + counts["refused by the state machine"],
            "unknown": counts["unknown"], "why refused": counts["why refused"],
            "load average before": load}


def login_latency(nodes, count):
    """rxmppctl user add on node i % 3, then log-ins on the next node until
    one succeeds: the seconds from the command's return to that success."""
    seconds, attempts = [], []
    load = load_average()
    for i in range(count):
        writer, reader = nodes[i % 3], nodes[(i + 1) % 3]
        name = f"latency{i}"
        result = writer.ctl_input(["user", "add", name, "--stdin"], "latency-pw\n")
        if result.returncode != 0:
            raise RuntimeError(f"rxmppctl user add {name}: {result.stderr.strip()}")
        returned = time.monotonic()
        for attempt in range(1, 101):
            raw = Raw(reader.client_port, reader.certs["ca"])
            try:
                raw.login(name, "latency-pw")
                break
            except AssertionError:
                if attempt == 100:
                    raise
            finally:
                raw.close()
        seconds.append(time.monotonic() - returned)
        attempts.append(attempt)
    ordered = sorted(seconds)
    return {"users": count, "median ms": statistics.median(seconds) * 1000,
            "p99 ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "max ms": ordered[-1] * 1000,
            "first log-in refused": sum(a > 1 for a in attempts),
            "load average before": load}


def fill(node, commands, tries=60):
    """Every command committed, one at a time through `node`, each asked
    again a second later while refused or unknown (a MERGE of what the
    state already holds answers "identical").  One at a time: with even a
    dozen such commands in flight the members stop hearing each other
    (docs/PERFORMANCE.md).  Returns the seconds each tenth of the commands
    took and how many answers were refusals."""
    c = Connection(node.control)
    c.sock.setblocking(True)
    c.sock.settimeout(120)
    tenths, refusals = [], 0
    started = time.monotonic()
    try:
        for i, command in enumerate(commands):
            for attempt in range(tries):
                c.sock.sendall(frame(command))
                answers = []
                while not answers:
                    answers = c.read_answers()
                status, outcome, text = answers[0]
                if status in ("applied", "committed"):
                    if outcome == MACHINE_REFUSED:
                        raise RuntimeError(f"command {i} of the fill refused by the state "
                                           "machine")
                    break
                refusals += 1
                if attempt == tries - 1:
                    raise RuntimeError(f"command {i} of the fill: {status}: {text}")
                time.sleep(1)
            if (i + 1) % max(1, len(commands) // 10) == 0:
                tenths.append(round(time.monotonic() - started, 1))
                print(f"fill: {i + 1} of {len(commands)}, {tenths[-1]} s, {refusals} refused",
                      file=sys.stderr, flush=True)
                started = time.monotonic()
    finally:
        c.sock.close()
    return tenths, refusals


def snapshot_install(directory, certs, nodes, accounts, keys, snapshot_entries, writes,
                     connections, window):
    """Fills the cluster to `accounts` accounts (MERGE commands), measures
    `writes` user adds again with them held (what a write costs must not
    grow with the accounts), then a fourth node joins: the leader's
    snapshot size, and the seconds from `cluster join` to the new node
    listing every account."""
    have = user_count(nodes[0])
    names = [f"s{i}" for i in range(max(0, accounts - have))]
    commands = merges(names, keys)
    load = load_average()
    started = time.monotonic()
    tenths, refusals = fill(nodes[0], commands)
    elapsed = time.monotonic() - started
    held = write_rate(nodes, writes, connections, window, keys, prefix="x") if writes else None
    if held:
        print(f"writes with the accounts held: {json.dumps(held)}", file=sys.stderr, flush=True)
    total = user_count(nodes[0])
    # A cluster that lost its leader under the load elects another.
    wait_until(lambda: any(bench.cluster_status(n)["state"] == "LEADER" for n in nodes),
               timeout=60, what="a leader after the writes")
    leader = next(n for n in nodes if bench.cluster_status(n)["state"] == "LEADER")
    snapshot = os.path.join(leader.dir, "state", "snapshot")
    wait_until(lambda: os.path.exists(snapshot), timeout=60, what="a snapshot on the leader")
    os.makedirs(os.path.join(directory, "joiner"))
    joiner = bench.start_node(os.path.join(directory, "joiner"), certs,
                              cluster_port=free_port(span=2),
                              # node 0's own 40, as they were before the cluster
                              # (merged as identical; not the 100,000).
                              accounts_from=os.path.join(nodes[0].dir, "state",
                                                         "accounts.before-cluster"),
                              cluster_extra=f"  snapshot_entries: {snapshot_entries}\n")
    nodes.append(joiner)
    join_load = load_average()
    started = time.monotonic()
    # Not node.ctl: its 30 s may be too short for a join on a loaded machine.
    result = subprocess.run([os.path.join(joiner.bin, "rxmppctl"), "--config", joiner.config,
                             "cluster", "join", f"127.0.0.1:{leader.cluster_port}"],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"rxmppctl cluster join: {result.stderr.strip()}")
    joined = time.monotonic() - started
    wait_until(lambda: user_count(joiner) >= total, timeout=300, interval=0.2,
               what="the joining node to hold every account")
    journal = os.path.join(leader.dir, "state", "accounts.journal")
    return {"accounts": total, "fill commands": len(commands), "fill seconds": elapsed,
            "fill seconds per tenth": tenths, "fill answers refused or unknown": refusals,
            "fill load average before": load,
            "accounts file bytes": os.path.getsize(os.path.join(leader.dir, "state",
                                                                "accounts")),
            "accounts journal bytes": (os.path.getsize(journal) if os.path.exists(journal)
                                       else 0),
            "cluster writes with these accounts held": held,
            "snapshot bytes": os.path.getsize(snapshot),
            "log bytes on the leader": os.path.getsize(os.path.join(leader.dir, "state", "log")),
            "join returned s": joined,
            "join to all accounts s": time.monotonic() - started,
            "joiner snapshot bytes": os.path.getsize(os.path.join(joiner.dir, "state",
                                                                  "snapshot")),
            "load average before the join": join_load}


def run(tmp, certs, writes=5000, connections=CONNECTIONS_MAX, window=6, logins=50,
        snapshot_accounts=100000, snapshot_entries=1000):
    directory = os.path.join(tmp, "cluster-state")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    keys = scram_keys("bench-write", b"bench-write-salt")
    nodes = []
    results = {}
    try:
        form_cluster(directory, certs, snapshot_entries, nodes)
        if writes:
            results["cluster writes"] = write_rate(nodes, writes, connections, window, keys)
        if logins:
            results["user add to log-in elsewhere"] = login_latency(nodes, logins)
        if snapshot_accounts:
            results["snapshot install"] = snapshot_install(directory, certs, nodes,
                                                           snapshot_accounts, keys,
                                                           snapshot_entries, writes,
                                                           connections, window)
            held = results["snapshot install"].pop("cluster writes with these accounts held")
            if held:
                results["cluster writes with the snapshot's accounts held"] = held
    finally:
        for node in nodes:
            node.stop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=CONNECTIONS_MAX,
                        help=f"control connections per node (at most {CONNECTIONS_MAX})")
    parser.add_argument("--window", type=int, default=6,
                        help="writes in flight on each connection")
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--snapshot-accounts", type=int, default=100000)
    parser.add_argument("--snapshot-entries", type=int, default=1000,
                        help="cluster.snapshot_entries of every node")
    parser.add_argument("--keep", help="run in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rxmpp-bench-state-") as tmp:
        where = args.keep or tmp
        certs = make_server_certs(os.path.join(where, "certs"))
        results = run(where, certs, args.writes, min(args.connections, CONNECTIONS_MAX),
                      args.window, args.logins, args.snapshot_accounts, args.snapshot_entries)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
