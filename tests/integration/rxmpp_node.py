# SPDX-License-Identifier: MIT
"""Runs a real rxmppd for a test: its own temporary directory, free loopback
ports, stderr collected line by line so tests can wait for log lines, and
rxmppctl for status.  Everything it starts it ends by PID."""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

BUILD = os.environ.get("RXMPP_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
BIN = os.path.join(BUILD, "bin")
# A line an rxmpp process logged: the UTC time, unless stderr is the journal,
# then the syslog priority, the process and its pid (common/log.h).
LOG_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
LOG_LINE = re.compile(rf"^(?:{LOG_STAMP})?<\d>[\w.-]+\[\d+\]: ")


# Ports for the nodes come from below the kernel's ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range), so that no outgoing connection of
# a test can take one between its choice and the node's bind; each is handed
# out once per run, and `span` consecutive ports (a cluster port and its
# stanza port) are free together.
PORT_RANGE = (20000, 32700)
_ports_given = set()
_port_random = random.Random(os.getpid())


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(span=1):
    for _ in range(1000):
        port = _port_random.randrange(PORT_RANGE[0], PORT_RANGE[1] - span)
        wanted = range(port, port + span)
        if any(p in _ports_given for p in wanted) or not all(_bindable(p) for p in wanted):
            continue
        _ports_given.update(wanted)
        return port
    raise AssertionError("no free port below the ephemeral range")


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls `predicate` until it returns something true; bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def process_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # Gone, or gone between the open and the read.
        return False


class Node:
    def __init__(self, directory, certs, bin_dir=BIN, extra=""):
        self.dir = str(directory)
        self.bin = bin_dir
        self.certs = certs
        self.client_port = free_port()
        self.component_port = free_port()
        self.config = os.path.join(self.dir, "rxmpp.yaml")
        self.control = os.path.join(self.dir, "control.sock")
        os.makedirs(os.path.join(self.dir, "state"), exist_ok=True)
        self.write_config(extra=extra)
        self.proc = None
        self.reader = None
        # rxmppd and rxmppctl run under it, e.g. ["ip", "netns", "exec", NAME]
        self.wrapper = []
        self.lines = []
        self.lock = threading.Condition()
        self.known_pids = set()

    def config_text(self, extra="", client_port=None, log_level="debug"):
        return (
            f"domain: test.example\n"
            # The tests run as root, on files under root's 0700 temporary
            # folders: the node keeps root (test_privileges.py drops it).
            f"user: root\n"
            f"log_level: {log_level}\n"
            f"state_directory: state\n"
            f"control_socket: control.sock\n"
            f"callbridges_file: callbridges.yaml\n"
            f"listen:\n"
            f"  addresses: [127.0.0.1]\n"
            f"  client_port: {client_port or self.client_port}\n"
            f"  component_port: {self.component_port}\n"
            f"tls:\n"
            f"  key: {self.certs['key']}\n"
            f"  certificate: {self.certs['cert']}\n"
            + (f"  bundle: {self.certs['bundle']}\n" if self.certs.get("bundle") else "")
            + f"{extra}"
        )

    def add_user(self, name, password):
        result = subprocess.run(
            self.wrapper + [os.path.join(self.bin, "rxmppctl"), "--config", self.config, "user",
                            "add", name, "--stdin"], input=password + "\n", capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr

    def write_bridges(self, bridges):
        """bridges: name -> secret."""
        path = os.path.join(self.dir, "callbridges.yaml")
        with open(path + ".tmp", "w") as f:
            for name, secret in bridges.items():
                f.write(f'{name}: "{secret}"\n')
        os.chmod(path + ".tmp", 0o640)
        os.replace(path + ".tmp", path)

    def write_config(self, text=None, **kwargs):
        tmp = self.config + ".tmp"
        with open(tmp, "w") as f:
            f.write(text if text is not None else self.config_text(**kwargs))
        os.replace(tmp, self.config)

    def start(self, env=None, wait_ready=True):
        # A restarted node's log goes on from the previous run's lines.
        mark = self.log_mark()
        self.proc = subprocess.Popen(
            self.wrapper + [os.path.join(self.bin, "rxmppd"), "--foreground", "--config",
                            self.config],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            errors="replace",
        )
        self.known_pids.add(self.proc.pid)
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()
        if wait_ready:
            self.wait_log(rf"rxmppd\[{self.proc.pid}\]: ready:", start=mark, what="readiness")
            self.remember_children()
        return self

    def _collect(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))
                self.lock.notify_all()

    def wait_log(self, pattern, timeout=10.0, start=0, what=None):
        """Returns the first log line from index `start` on that matches."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for line in self.lines[start:]:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(self.lines[-30:])
                    raise AssertionError(
                        f"no log line matching {what or pattern!r} within {timeout}s; last lines:\n{tail}"
                    )
                self.lock.wait(left)

    def log_mark(self):
        with self.lock:
            return len(self.lines)

    def ctl(self, *args, check=True):
        result = subprocess.run(
            self.wrapper + [os.path.join(self.bin, "rxmppctl"), "--config", self.config, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check:
            assert result.returncode == 0, f"rxmppctl {' '.join(args)}: {result.stderr}"
        return result

    def ctl_input(self, args, text):
        return subprocess.run(
            self.wrapper + [os.path.join(self.bin, "rxmppctl"), "--config", self.config, *args],
            input=text, capture_output=True, text=True, timeout=30)

    def status(self):
        return json.loads(self.ctl("status", "--json").stdout)

    def children(self):
        return {p["name"]: p for p in self.status()["processes"]}

    def remember_children(self):
        for p in self.status()["processes"]:
            if p["pid"]:
                self.known_pids.add(p["pid"])

    def wait_child_back(self, name, old_pid, timeout=10.0):
        """Waits until `name` runs with a pid other than `old_pid` and is ready."""

        def back():
            child = self.children()[name]
            if child["pid"] not in (0, old_pid) and child["state"] == "ready":
                self.known_pids.add(child["pid"])
                return child
            return None

        return wait_until(back, timeout=timeout, what=f"{name} to be back")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.cleanup()

    def cleanup(self):
        """Ends whatever of ours is still alive, by PID."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in self.known_pids:
            if process_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.reader is not None:
            # Every process that shared stderr is gone, so this ends.
            self.reader.join(timeout=10)

    def sanitizer_reports(self):
        """Lines in which AddressSanitizer, LeakSanitizer or UBSan spoke."""
        markers = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
        with self.lock:
            reports = []
            for i, line in enumerate(self.lines):
                if any(m in line for m in markers):
                    # The report itself: the lines up to the next log line.
                    tail = [l for l in self.lines[i + 1:i + 60] if not LOG_LINE.match(l)]
                    reports.append("\n".join([line] + tail[:40]))
            return reports


def copy_bin_with(directory, name, script):
    """A copy of the build's programs in which `name` is replaced by `script`."""
    target = os.path.join(str(directory), "bin")
    shutil.copytree(BIN, target)
    path = os.path.join(target, name)
    os.remove(path)
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o755)
    return target
