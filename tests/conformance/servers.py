# SPDX-License-Identifier: MIT
"""The servers a conversation runs against, each behind the same hook:
start(accounts) in a temporary directory of its own, on loopback only, with
the accounts the scripts need; host, port_for(client), domain, ca and
password for the runner; stop() ends what it started, by PID, and returns
the sanitizer reports of rxmpp's processes."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from rxmpp_node import Node, free_port  # noqa: E402

DOMAIN = "test.example"
PASSWORD = "conformance-pw"
START_WAIT = 30.0


def _wait_port(port, proc, what, log=None):
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = open(log).read()[-2000:] if log and os.path.exists(log) else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} before it listened\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {START_WAIT:g} s")


class Server:
    host = "127.0.0.1"
    domain = DOMAIN
    password = PASSWORD

    def __init__(self, directory, certs):
        self.dir = directory
        self.certs = certs
        self.ca = certs["ca"]
        self.port = None


    def port_for(self, client):
        """The port the script's client number `client` (in the order the
        script declares them) connects to."""
        return self.port


class Rxmpp(Server):
    """A lone rxmpp node started as the integration tests start one."""

    name = "rxmpp"

    def start(self, accounts):
        os.makedirs(self.dir, exist_ok=True)
        self.node = Node(self.dir, self.certs, extra="")
        self.node.start()
        for user in accounts:
            self.node.add_user(user, self.password)
        self.port = self.node.client_port
        return self

    def stop(self):
        """Returns what AddressSanitizer, LeakSanitizer or UBSan reported
        (make check SANITIZE=1 runs these scripts on that build)."""
        self.node.stop()
        return self.node.sanitizer_reports()


class RxmppCluster(Server):
    """Three rxmpp nodes formed into a cluster as the integration tests form
    one (test_cluster.form_cluster); a script's clients are spread over
    the nodes in turn (the first on node 1, the second on node 2...), so
    that what a script checks between two clients crosses nodes."""

    name = "rxmpp3"

    def start(self, accounts):
        from test_cluster import form_cluster

        self.nodes = []

        def make(**kwargs):
            directory = os.path.join(self.dir, f"node{len(self.nodes) + 1}")
            os.makedirs(directory)
            node = Node(directory, self.certs, **kwargs)
            self.nodes.append(node)
            return node

        try:
            form_cluster(make, self.certs)
            for user in accounts:
                # One node: the account is the cluster's, on all three.
                result = self.nodes[0].ctl_input(["user", "add", user, "--stdin"],
                                                 self.password + "\n")
                if result.returncode != 0:
                    raise RuntimeError(f"rxmppctl user add {user}: {result.stderr}")
            for node in self.nodes:
                _wait_accounts(node, accounts)
        except BaseException:
            self.stop()
            raise
        return self

    def port_for(self, client):
        return self.nodes[client % len(self.nodes)].client_port

    def stop(self):
        reports = []
        for node in self.nodes:
            node.stop()
            reports += node.sanitizer_reports()
        return reports


def _wait_accounts(node, accounts):
    """Until `node` has applied every account (a member may apply a
    committed entry a moment after the leader answered)."""
    wanted = set(accounts)
    deadline = time.monotonic() + START_WAIT
    while not wanted <= set(node.ctl("user", "list").stdout.split()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"a member did not apply the accounts within {START_WAIT:g} s")
        time.sleep(0.1)


PROSODY_MODULES = ["roster", "saslauth", "tls", "disco", "ping", "presence", "offline", "carbons",
                   "vcard", "blocklist", "posix"]


class Prosody(Server):
    """Debian's prosody as the invoking user, with its own configuration and
    data here; c2s only, no s2s, HTTP or components."""

    name = "prosody"

    def config(self):
        return f"""-- rxmpp make conformance: a throwaway Prosody on loopback.
pidfile = "{self.dir}/prosody.pid"
data_path = "{self.dir}/data"
daemonize = false
run_as_root = true
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{self.dir}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
s2s_direct_tls_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{ {"; ".join(f'"{m}"' for m in PROSODY_MODULES)} }}
modules_disabled = {{ "s2s"; "dialback"; "s2s_auth_certs" }}
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
certificates = "{self.dir}/certs"
VirtualHost "{self.domain}"
  ssl = {{ key = "{self.certs['key']}"; certificate = "{self.certs['cert']}" }}
"""

    def start(self, accounts):
        if shutil.which("prosody") is None or shutil.which("prosodyctl") is None:
            raise RuntimeError("prosody is not installed: scripts/ensure-deps.sh conformance "
                               "installs it (Debian package prosody)")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)
        self.port = free_port()
        self.config_file = os.path.join(self.dir, "prosody.cfg.lua")
        with open(self.config_file, "w") as f:
            f.write(self.config())
        for user in accounts:
            result = subprocess.run(["prosodyctl", "--config", self.config_file, "register", user,
                                     self.domain, self.password], capture_output=True, text=True,
                                    timeout=60)
            if result.returncode != 0:
                raise RuntimeError(f"prosodyctl register {user}: {result.stdout}{result.stderr}")
        self.log = os.path.join(self.dir, "prosody.log")
        self.proc = subprocess.Popen(["prosody", "--config", self.config_file, "-F"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr.log"), "w"))
        try:
            _wait_port(self.port, self.proc, "prosody", self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Ends Prosody by its PID; nothing to report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return []


SERVERS = {"prosody": Prosody, "rxmpp": Rxmpp, "rxmpp3": RxmppCluster}
