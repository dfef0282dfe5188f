#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`make bench-peers`: the one-node scenarios of `make bench` against rxmpp
and, one server at a time in the same run, against the XMPP servers an
administrator would pick instead, as Debian ships them; prints each figure
side by side and rxmpp's ratio to the best peer.

Each peer runs from a directory of its own under a temporary directory,
listening on loopback only, with the certificate the tests make; nothing of
the system's own configuration or services is used or touched.  What each
peer's configuration lifts for the benchmark (anti-abuse throttles) is in
THROTTLES_LIFTED and docs/PERFORMANCE.md.  Every process started is stopped:
asked first, then by PID (the tree taken before asking)."""

import argparse
import gzip
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from xml.etree import ElementTree

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402
from certs import make_server_certs  # noqa: E402
from rxmpp_node import free_port, process_alive as bench_alive, wait_until  # noqa: E402

DOMAIN = "test.example"
# Components without TLS here: Prosody offers XEP-0114 in plain text only,
# so every server is measured the same way.
SCENARIOS = [
    ("idle 1000", "idle", ["--sessions", "1000"]),
    ("setup 500", "setup", ["--sessions", "500", "--concurrency", "50"]),
    # The one log-in every server here offers (jabberd2 has no SCRAM).
    ("setup 500 PLAIN", "setup", ["--sessions", "500", "--concurrency", "50", "--plain"]),
    ("chat 20 pairs", "chat", ["--pairs", "20", "--seconds", "10", "--window", "16"]),
    ("bridges 20 users, 2 bridges", "bridges",
     ["--pairs", "20", "--bridges", "2", "--seconds", "10", "--window", "8",
      "--component-plain"]),
]
# For each figure: is more better?
BETTER_HIGHER = {"delivered_per_s": True, "setup_per_s": True, "server_cpu_per_1000": False,
                 "server_cpu_per_setup": False, "per_session": False, "latency_p50": False,
                 "latency_p99": False}
THROTTLES_LIFTED = {
    "prosody": "mod_limits not loaded (c2s rate limits off); no s2s, offline, mam, smacks",
    "jabberd2": "c2s io limits stanzas 0 (1,000 by default), max_fds 100,000 in c2s and router; "
                "Debian's module chains unchanged",
    "ejabberd": "listener shaper none (the sample config's c2s_shaper: normal is 1,000 B/s), "
                "backlog 1,024 (5 by default), 65,536 descriptors, no max_user_sessions, "
                "max_fsm_queue 1,000,000; no offline, mam, stream_mgmt",
}


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Server:
    """A server under test, from a directory of its own."""

    name = "?"

    def __init__(self, directory, certs):
        self.dir = directory
        self.certs = certs
        self.client_port = free_port()
        self.component_port = free_port()
        self.proc = None

    def launch(self, command, env=None):
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        wait_until(lambda: accepts(self.client_port) and accepts(self.component_port),
                   timeout=60, interval=0.2, what=f"{self.name} to listen")

    def root(self):
        return self.proc.pid

    def descendants(self):
        """The PIDs of the process we started and everything under it now."""
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        found = {self.proc.pid}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in found and pid not in found:
                    found.add(pid)
                    grew = True
        return found

    def ask_to_stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)

    def stop(self):
        """Asks the server to stop, then ends by PID whatever of its tree
        (taken before the request: children may be handed to init) lives on."""
        if self.proc is None:
            return
        pids = self.descendants()
        if self.proc.poll() is None:
            self.ask_to_stop()
        try:
            wait_until(lambda: not any(bench_alive(p) for p in pids), timeout=30,
                       interval=0.2, what=f"{self.name} to stop")
        except AssertionError:
            for pid in pids:
                if bench_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()


class Rxmpp(Server):
    name = "rxmpp"

    def start(self):
        # Plain call bridges, as every peer is measured (see SCENARIOS).
        self.node = bench.start_node(self.dir, self.certs, component_tls="plain")
        self.client_port = self.node.client_port
        self.component_port = self.node.component_port

    def root(self):
        return self.node.proc.pid

    def stop(self):
        self.node.stop()


class Prosody(Server):
    name = "prosody"

    def start(self):
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        config = os.path.join(self.dir, "prosody.cfg.lua")
        components = "".join(
            f'Component "cb{i}.{DOMAIN}"\n  component_secret = "{bench.BRIDGE_SECRET}"\n'
            for i in range(bench.BRIDGES))
        with open(config, "w") as f:
            f.write(f"""
pidfile = "{self.dir}/prosody.pid"
data_path = "{data}"
daemonize = false
run_as_root = true
log = {{ {{ levels = {{ min = "warn" }}, to = "file", filename = "{self.dir}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.client_port} }}
component_ports = {{ {self.component_port} }}
component_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ }}
modules_enabled = {{ "disco"; "roster"; "saslauth"; "tls"; "ping"; "version"; "posix" }}
modules_disabled = {{ "s2s"; "offline" }}
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
certificates = "{self.dir}/certs"
VirtualHost "{DOMAIN}"
  ssl = {{ key = "{self.certs['key']}"; certificate = "{self.certs['cert']}" }}
{components}""")
        self.config = config
        for i in range(bench.ACCOUNTS):
            subprocess.run(["prosodyctl", "--config", config, "register", f"bench{i}", DOMAIN,
                            bench.PASSWORD], check=True, capture_output=True, timeout=60)
        self.launch(["prosody", "--config", config, "-F"])


class Ejabberd(Server):
    """ejabberd runs as its system user, from a
    directory of its own; Erlang distribution on a fixed loopback port and
    no epmd (ERL_DIST_PORT), so nothing outlives the server."""

    name = "ejabberd"
    template = None  # a spool with the accounts, made once and copied

    def files(self, spool):
        self.dist_port = free_port()
        pem = os.path.join(self.dir, "server.pem")
        with open(pem, "w") as out:
            for part in (self.certs["cert"], self.certs["key"]):
                out.write(open(part).read())
        services = "".join(f'      "cb{i}.{DOMAIN}":\n        password: "{bench.BRIDGE_SECRET}"\n'
                           for i in range(bench.BRIDGES))
        with open(os.path.join(self.dir, "ejabberd.yml"), "w") as f:
            f.write(f"""hosts: ["{DOMAIN}"]
loglevel: warning
certfiles: ["{pem}"]
listen:
  - port: {self.client_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    shaper: none
    access: all
    backlog: 1024
  - port: {self.component_port}
    ip: "127.0.0.1"
    module: ejabberd_service
    shaper: none
    backlog: 1024
    hosts:
{services}auth_method: internal
auth_password_format: scram
max_fsm_queue: 1000000
acl: {{}}
access_rules:
  local:
    allow: all
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
  mod_version: {{}}
""")
        with open(os.path.join(self.dir, "ejabberdctl.cfg"), "w") as f:
            f.write(f'ERL_MAX_PORTS=65536\n'
                    f'ERLANG_NODE=rxmppbench@localhost\nERL_DIST_PORT={self.dist_port}\n'
                    f'INET_DIST_INTERFACE=127.0.0.1\nERL_EPMD_ADDRESS=127.0.0.1\n'
                    f'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\n'
                    f'EJABBERD_PID_PATH={self.dir}/ejabberd.pid\n')
        shutil.copy("/etc/ejabberd/inetrc", os.path.join(self.dir, "inetrc"))
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        self.spool = spool
        subprocess.run(["chown", "-R", "ejabberd:ejabberd", self.dir], check=True, timeout=60)

    # As the ejabberd user from the start: ejabberdctl's own switch (su)
    # would reset the descriptor limit to 1,024, too few for the sessions.
    AS_EJABBERD = ["setpriv", "--reuid=ejabberd", "--regid=ejabberd", "--init-groups"]
    ENV = {**os.environ, "HOME": "/var/lib/ejabberd"}

    def command(self, *args):
        return [*self.AS_EJABBERD, "ejabberdctl", "--config-dir", self.dir, "--config",
                os.path.join(self.dir, "ejabberd.yml"), "--ctl-config",
                os.path.join(self.dir, "ejabberdctl.cfg"), "--logs",
                os.path.join(self.dir, "logs"), "--spool", self.spool, *args]

    def ctl(self, *args, **kwargs):
        return subprocess.run(self.command(*args), env=self.ENV, **kwargs)

    def start(self):
        spool = os.path.join(self.dir, "spool")
        if Ejabberd.template is not None:
            shutil.copytree(Ejabberd.template, spool)
        else:
            os.makedirs(spool)
        self.files(spool)
        self.launch(self.command("foreground"), env=self.ENV)
        if Ejabberd.template is None:
            for i in range(bench.ACCOUNTS):
                self.ctl("register", f"bench{i}", DOMAIN, bench.PASSWORD, check=True,
                         capture_output=True, timeout=120)

    def ask_to_stop(self):
        self.ctl("stop", capture_output=True, timeout=60)

    def stop(self):
        first = Ejabberd.template is None
        super().stop()
        if first:
            # The accounts stay for the next scenarios: copy the spool.
            Ejabberd.template = os.path.join(os.path.dirname(self.dir), "ejabberd-spool")
            shutil.rmtree(Ejabberd.template, ignore_errors=True)
            shutil.copytree(self.spool, Ejabberd.template)


class Jabberd2(Server):
    """jabberd2: a router, a session manager and a client-to-server process,
    configured from Debian's sample files with paths, ports and limits
    changed; accounts in its SQLite database (plain passwords: it offers
    PLAIN and DIGEST-MD5, no SCRAM)."""

    name = "jabberd2"
    plain_only = True

    def config(self, name, edits):
        tree = ElementTree.parse(f"/etc/jabberd2/{name}")
        root = tree.getroot()
        for path, value in edits.items():
            element = root.find(path)
            if element is None:
                raise AssertionError(f"{name} has no {path}")
            if isinstance(value, dict):
                element.attrib.clear()
                element.attrib.update(value)
            else:
                element.text = value
        log = root.find("log")
        log.attrib["type"] = "file"
        log.find("file").text = os.path.join(self.dir, name.replace(".xml", ".log"))
        path = os.path.join(self.dir, name)
        tree.write(path)
        return path

    def start(self):
        db = os.path.join(self.dir, "jabberd2.db")
        with sqlite3.connect(db) as connection:
            with gzip.open("/usr/share/doc/jabberd2/db-setup.sqlite.gz", "rt") as schema:
                connection.executescript(schema.read())
            connection.executemany(
                'INSERT INTO "authreg" ("username", "realm", "password") VALUES (?, ?, ?)',
                [(f"bench{i}", DOMAIN, bench.PASSWORD) for i in range(bench.ACCOUNTS)])
        pem = os.path.join(self.dir, "server.pem")
        with open(pem, "w") as out:
            for part in (self.certs["cert"], self.certs["key"]):
                out.write(open(part).read())
        os.chmod(pem, 0o600)
        router_port = self.component_port  # XEP-0114 components use the router's port
        users = os.path.join(self.dir, "router-users.xml")
        with open(users, "w") as f:
            f.write("<users><user><name>jabberd</name><secret>bench-router</secret></user>"
                    "</users>\n")
        shutil.copy("/etc/jabberd2/router-filter.xml", self.dir)
        link = {"router/port": str(router_port), "router/pass": "bench-router"}
        router = self.config("router.xml", {
            "pidfile": f"{self.dir}/router.pid", "local/ip": "127.0.0.1",
            "local/port": str(router_port), "local/users": users,
            "local/secret": bench.BRIDGE_SECRET, "io/max_fds": "100000",
            "aci/filter": os.path.join(self.dir, "router-filter.xml")})
        sm = self.config("sm.xml", {
            "pidfile": f"{self.dir}/sm.pid", **link, "local/id": DOMAIN,
            "storage/sqlite/dbname": db, "aci/acl/jid": f"admin@{DOMAIN}"})
        c2s = self.config("c2s.xml", {
            "pidfile": f"{self.dir}/c2s.pid", **link, "local/id": DOMAIN,
            "local/ip": "127.0.0.1", "local/port": str(self.client_port),
            "io/max_fds": "100000", "io/limits/stanzas": "0",
            "authreg/sqlite/dbname": db})
        # Accounts live in the authreg table only: the session manager makes
        # its own record at the first session (Debian's sample leaves it off).
        tree = ElementTree.parse(sm)
        ElementTree.SubElement(tree.getroot().find("user"), "auto-create")
        tree.write(sm)
        # The client host with its certificate, TLS before authentication.
        tree = ElementTree.parse(c2s)
        host = tree.getroot().find("local/id")
        host.attrib.clear()
        host.attrib.update({"pemfile": pem, "require-starttls": "yes"})
        tree.write(c2s)
        self.launch(["sh", "-c",
                     f"jabberd2-router -c {router} & sleep 1; jabberd2-sm -c {sm} & "
                     f"jabberd2-c2s -c {c2s} & wait"])

    def ask_to_stop(self):
        for pid in self.descendants() - {self.proc.pid}:
            os.kill(pid, signal.SIGTERM)


PEERS = {"prosody": Prosody, "ejabberd": Ejabberd, "jabberd2": Jabberd2}


def run_server(kind, tmp, certs):
    figures = {}
    for name, scenario, args in SCENARIOS:
        directory = os.path.join(tmp, f"{kind.name}-{scenario}")
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        server = kind(directory, certs)
        try:
            server.start()
            if getattr(server, "plain_only", False) and "--plain" not in args:
                args = [*args, "--plain"]
            command = bench.load_command(scenario, args, [server.client_port],
                                         server.component_port, certs["ca"], server.root())
            result = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if result.returncode == 0:
                figures[name] = json.loads(result.stdout)
            else:
                # Kept, shown, and the other scenarios still run.
                figures[name] = {"error": result.stderr.strip().splitlines()[-1]}
                print(f"  {kind.name} {scenario} failed: {figures[name]['error']}", flush=True)
        finally:
            server.stop()
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--json", help="write every run's figures to this file")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    kinds = [Rxmpp] + [PEERS[p] for p in args.peers.split(",") if p]
    runs = {k.name: [] for k in kinds}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rxmpp-peers-") as tmp:
        # Peers that run as their own system user must reach their directory.
        os.chmod(tmp, 0o711)
        certs = make_server_certs(os.path.join(tmp, "certs"))
        for run in range(args.runs):
            for kind in kinds:
                print(f"run {run + 1} of {args.runs}: {kind.name}", flush=True)
                runs[kind.name].append(run_server(kind, tmp, certs))
                if args.json:  # kept as it goes: a late failure loses nothing
                    with open(args.json, "w") as f:
                        json.dump(runs, f, indent=1)
    print_comparison(runs, args.runs)
    print(f"\n{args.runs} run(s) in {time.monotonic() - started:.0f} s")
    for peer, lifted in THROTTLES_LIFTED.items():
        if peer in runs:
            print(f"{peer}: {lifted}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


def median(runs, scenario, figure):
    values = [run[scenario][figure] for run in runs if figure in run[scenario]]
    return statistics.median(values) if values else None


def print_comparison(runs, count):
    names = list(runs)
    peers = names[1:]
    print(f"\nmedians of {count} run(s); ratio: rxmpp / best peer "
          "(above 1 is better for rates, below 1 for costs)")
    header = f"{'figure':34s}" + "".join(f"{n:>12s}" for n in names) + f"{'ratio':>10s}"
    for scenario, _, _ in SCENARIOS:
        print(f"\n{scenario}\n{header}")
        figures = []
        for name in names:
            for run in runs[name]:
                figures += [f for f in run[scenario] if f not in figures]
        for name in names:
            errors = {run[scenario]["error"] for run in runs[name] if "error" in run[scenario]}
            for error in errors:
                print(f"  {name} failed: {error}")
        for figure in figures:
            if figure in ("scenario", "error"):
                continue
            values = [median(runs[n], scenario, figure) for n in names]
            cells = "".join(f"{v:12.4g}" if v is not None else f"{'-':>12s}" for v in values)
            ratio = ""
            if figure in BETTER_HIGHER and peers:
                peer_values = [v for v in values[1:] if v]
                if peer_values and values[0]:
                    best = (max if BETTER_HIGHER[figure] else min)(peer_values)
                    ratio = f"{values[0] / best:10.3g}"
            print(f"  {figure:32s}{cells}{ratio}")


if __name__ == "__main__":
    main()
