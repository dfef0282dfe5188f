#!/usr/bin/python3
"""Memory per idle authenticated TLS session: starts one rxmpp node on
loopback, opens N sessions (STARTTLS, SASL PLAIN, bind, presence) and
holds them, then reports the resident memory of all the node's processes
(summed from /proc) at rest and per session.  Everything it starts it
stops by PID; every wait is bounded.

    /usr/bin/python3 tests/bench/idle_sessions.py 1000 10000
"""

import asyncio
import base64
import json
import os
import re
import resource
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from certs import make_server_certs  # noqa: E402
from rxmpp_node import Node  # noqa: E402

HEADER = (b"<?xml version='1.0'?><stream:stream to='test.example' xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
PASSWORD = "bench-password"


async def read_until(reader, marker, timeout=60):
    data = b""
    while marker not in data:
        chunk = await asyncio.wait_for(reader.read(65536), timeout)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {data[-200:]!r}")
        data += chunk
    return data


async def open_session(port, ca, index):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    await read_until(reader, b"</stream:features>")
    writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await read_until(reader, b"<proceed")
    context = ssl.create_default_context(cafile=ca)
    await writer.start_tls(context, server_hostname="test.example")
    writer.write(HEADER)
    await read_until(reader, b"</stream:features>")
    token = base64.b64encode(b"\0bench\0" + PASSWORD.encode())
    writer.write(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + token +
                 b"</auth>")
    await read_until(reader, b"</success>")
    writer.write(HEADER)
    await read_until(reader, b"</stream:features>")
    writer.write(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 b"<resource>r%d</resource></bind></iq>" % index)
    await read_until(reader, b"</iq>")
    writer.write(b"<presence/>")
    await writer.drain()
    return reader, writer


def node_rss_kib(node):
    total = 0
    pids = [node.proc.pid] + [p["pid"] for p in node.status()["processes"] if p["pid"]]
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return total


def listener_rss_kib(node):
    pid = node.children()["listener"]["pid"]
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


async def measure(node, count):
    sessions = []
    started = time.monotonic()
    for start in range(0, count, 250):
        batch = range(start, min(count, start + 250))
        sessions += await asyncio.gather(*[open_session(node.client_port, node.certs["ca"], i)
                                           for i in batch])
    elapsed = time.monotonic() - started
    await asyncio.sleep(12)  # idle parsers released after 5 s, memory trimmed every 10 s
    total, listener = node_rss_kib(node), listener_rss_kib(node)
    for _, writer in sessions:
        writer.close()
    return total, listener, elapsed


def main():
    counts = [int(a) for a in sys.argv[1:]] or [1000]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_server_certs(os.path.join(tmp, "certs"))
        for count in counts:
            directory = os.path.join(tmp, f"node{count}")
            os.makedirs(directory)
            node = Node(directory, certs, extra="log_level: warning\nlimits:\n"
                        "  max_connections_per_address: none\n  auth_timeout: 10m\n")
            node.write_config(log_level="warning", extra="limits:\n"
                              "  max_connections_per_address: none\n")
            node.add_user("bench", PASSWORD)
            node.start(wait_ready=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if node.status()["ready"]:
                        break
                except Exception:
                    pass
                time.sleep(0.1)
            try:
                base_total, base_listener = node_rss_kib(node), listener_rss_kib(node)
                loop = asyncio.new_event_loop()
                total, listener, elapsed = loop.run_until_complete(
                    asyncio.wait_for(measure(node, count), 1800))
                loop.close()
            finally:
                node.stop()
            result = {
                "sessions": count,
                "node_rss_kib_at_rest": base_total,
                "node_rss_kib_with_sessions": total,
                "per_session_kib": round((total - base_total) / count, 2),
                "listener_per_session_kib": round((listener - base_listener) / count, 2),
                "setup_seconds": round(elapsed, 1),
            }
            results.append(result)
            print(f"{count:6d} sessions: node {base_total} KiB at rest, {total} KiB with them: "
                  f"{result['per_session_kib']} KiB per session "
                  f"(listener {result['listener_per_session_kib']}); set up in {elapsed:.1f} s",
                  flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
