#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes through the cluster's log (issue 15), measured on a 3-node
loopback cluster: account changes committed per second (PROTO_PROPOSE of
`user add`, as rxmppctl sends it, answered once committed and applied on
every node), their latency, and a snapshot of --accounts accounts: its
size and the time a follower that was stopped behind it takes to install
it after it starts.  Figures only (docs/PERFORMANCE.md); nothing asserted.

    RXMPP_BUILD=build /usr/bin/python3 tests/bench/cluster_writes.py [--writes N]
"""

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import bench  # noqa: E402
from certs import make_server_certs  # noqa: E402
from rxmpp_node import free_port, wait_until  # noqa: E402
from test_cluster_log import APPLIED, TYPES  # noqa: E402

USER_ADD, MERGE = 1, 7


def keys():
    """elector_machine.h's keys, SHA-1 then SHA-256: random, as rxmppctl's are."""
    out = b""
    for size in (20, 32):
        salt = secrets.token_bytes(16)
        out += struct.pack(">IB", 4096, len(salt)) + salt
        out += secrets.token_bytes(size) + secrets.token_bytes(size)
    return out


def user_add(name):
    return bytes([1, USER_ADD]) + struct.pack(">H", len(name)) + name.encode() + keys()


def merge(names):
    body = struct.pack(">II", len(names), 0)
    for name in names:
        body += struct.pack(">H", len(name)) + name.encode() + keys()
    return bytes([1, MERGE]) + body


class Control:
    """One control-socket connection, one PROPOSE at a time on it."""

    def __init__(self, node):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(os.path.join(node.dir, "control.sock"))

    def propose(self, command):
        payload = struct.pack("<II", len(command), 0) + command
        self.sock.sendall(struct.pack("<HHIQ", TYPES["PROTO_PROPOSE"], 0, 16 + len(payload), 0) +
                          payload)
        data = b""
        while len(data) < 16 or len(data) < struct.unpack("<HHIQ", data[:16])[2]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("rxmppd closed the control connection")
            data += chunk
        status = struct.unpack("<I", data[16:20])[0]
        length = struct.unpack("<HHIQ", data[:16])[2]
        olen, tlen = struct.unpack("<II", data[16 + 32:16 + 40])
        return status, data[16 + 40 + olen:length].decode(errors="replace")

    def close(self):
        self.sock.close()


def stream(node, commands, concurrency):
    """Sends `commands` over `concurrency` connections; the latencies."""
    latencies, failures, lock = [], [], threading.Lock()
    queue = list(commands)

    def worker():
        control = Control(node)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    command = queue.pop()
                start = time.monotonic()
                status = control.propose(command)
                with lock:
                    latencies.append(time.monotonic() - start)
                    if status[0] != APPLIED:
                        failures.append(status)
        finally:
            control.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start, latencies, failures


def start(directory, certs, port):
    node = bench.Node(directory, certs)
    node.cluster_port = port
    node.write_config(log_level="info", extra=(
        f"cluster:\n  enabled: true\n  port: {port}\n  trust_bundle: {certs['ca']}\n"
        "  peer_names: [test.example]\n  snapshot_entries: 1000\n"))
    node.start()
    return node


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--accounts", type=int, default=100000)
    parser.add_argument("--json")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="rxmpp-bench-writes-")
    certs = make_server_certs(os.path.join(tmp, "certs"))
    nodes = []
    results = {}
    try:
        for i in range(3):
            nodes.append(start(os.path.join(tmp, str(i)), certs, free_port(span=2)))
        nodes[0].ctl("cluster", "initialize")
        for node in nodes[1:]:
            node.ctl("cluster", "join", f"127.0.0.1:{nodes[0].cluster_port}")
        wait_until(lambda: all(bench.cluster_status(n)["protocol"] == 4 for n in nodes),
                   timeout=30, what="every node to speak protocol 4")
        leader = next(n for n in nodes if bench.cluster_status(n)["state"] == "LEADER")
        follower = next(n for n in nodes if n is not leader)
        serial = 0
        # rxmppd serves 16 control connections at once (supervisor_control.c).
        for concurrency in (1, 4, 15):
            commands = [user_add(f"w{serial + i}") for i in range(args.writes)]
            serial += args.writes
            for where, node in (("leader", leader), ("follower", follower)):
                seconds, lat, failed = stream(node, commands[:len(commands) // 2]
                                              if where == "leader" else
                                              commands[len(commands) // 2:], concurrency)
                key = f"user add, {concurrency} at a time, on the {where}"
                lat.sort()
                results[key] = {"writes/s": round(len(lat) / seconds),
                                "p50 ms": round(1000 * statistics.median(lat), 1),
                                "p99 ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1),
                                "not applied": len(failed),
                                "why": sorted({text for _, text in failed})[:3]}
                print(key, results[key], flush=True)
        # The snapshot: accounts merged 50 to a command, a follower
        # stopped behind them, then started again.
        behind = follower
        behind.stop()
        names = [f"s{i}" for i in range(args.accounts)]
        commands = [merge(names[i:i + 50]) for i in range(0, len(names), 50)]
        seconds, lat, failed = stream(leader, commands, 15)
        results["merge of 50 accounts, 15 at a time"] = {
            "accounts/s": round(args.accounts / seconds), "not applied": len(failed),
            "why": sorted({text for _, text in failed})[:3]}
        print(results["merge of 50 accounts, 15 at a time"], flush=True)
        mark = leader.log_mark()
        control = Control(leader)
        for i in range(1001):  # past the next snapshot, with every account in it
            control.propose(user_add(f"t{i}"))
        control.close()
        line = leader.wait_log(r"snapshot at entry \d+ \((\d+) bytes\)", start=mark,
                               timeout=120)
        size = int(re.search(r"\((\d+) bytes\)", line).group(1))
        mark = behind.log_mark()
        started = time.monotonic()
        behind.start()
        behind.wait_log(r"installed the leader's snapshot", start=mark, timeout=300)
        installed = time.monotonic() - started
        results["snapshot"] = {"accounts": args.accounts + serial, "bytes": size,
                               "install s (from the follower's start)": round(installed, 2)}
        print(results["snapshot"], flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
