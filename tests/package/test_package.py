# SPDX-License-Identifier: MIT
"""The Debian package as an administrator meets it: built with `make deb`,
checked by lintian, installed with dpkg (not started: no domain, no
certificate), set up with the installed rxmppctl and rxmpp-certtool, run as
the rxmpp user with a real client and call bridge, upgraded to a newer build
with accounts and call bridges intact, and purged.  `make rpm` builds the
same files into an RPM.

They change the machine, so they run only as root and on a machine without
rxmpp installed; everything they install, create or start is undone at the
end (processes by PID).  The tests run in order and share one package."""

import glob
import grp
import hashlib
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import types

import pytest
from rxmpp_node import free_port, wait_until
from xmpp import connect_bridge, login, run

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

VERSION = re.search(r"^VERSION := (\S+)", open(os.path.join(TOP, "Makefile")).read(), re.M)[1]
NEWER = VERSION + "+1"
CONFIG = "/etc/rxmpp/rxmpp.yaml"
BRIDGES = "/etc/rxmpp/callbridges.yaml"
ACCOUNTS = "/var/lib/rxmpp/accounts"
INSTALLED = [
    "/usr/sbin/rxmppd", "/usr/sbin/rxmppctl", "/usr/bin/rxmpp-certtool",
    "/usr/lib/rxmpp/rxmpp-listener", "/usr/lib/rxmpp/rxmpp-router",
    "/usr/lib/rxmpp/rxmpp-elector", "/usr/lib/rxmpp/rxmpp-certworker", "/usr/lib/rxmpp/rxmpp-im",
    "/lib/systemd/system/rxmpp.service", CONFIG,
    "/usr/share/man/man8/rxmppd.8.gz", "/usr/share/man/man8/rxmppctl.8.gz",
    "/usr/share/man/man1/rxmpp-certtool.1.gz", "/usr/share/man/man5/rxmpp.yaml.5.gz",
    "/usr/share/bash-completion/completions/rxmppctl",
    "/usr/share/bash-completion/completions/rxmpp-certtool",
]

# As the unit runs it: the rxmpp user and group, no capabilities kept.
AS_RXMPP = ["setpriv", "--reuid=rxmpp", "--regid=rxmpp", "--init-groups", "--"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the package tests install a package: root only")


def sh(*args, check=True, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def installed_version():
    result = sh("dpkg-query", "-W", "-f=${Status} ${Version}", "rxmpp", check=False)
    return result.stdout.split()[-1] if "install ok installed" in result.stdout else None


def user_exists():
    try:
        return pwd.getpwnam("rxmpp") is not None
    except KeyError:
        return False


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Machine:
    """What the tests share: the two packages, the node's ports and secrets,
    and everything to undo."""

    def __init__(self, work):
        self.work = work
        self.debs = {}
        self.processes = []
        self.user_existed = user_exists()
        self.client_port = free_port()
        self.component_port = free_port()
        self.certs = {}
        self.bridge_secret = None

    def build(self, version):
        sh("make", "--no-print-directory", "deb", f"DEB_VERSION={version}", cwd=TOP)
        for path in glob.glob(os.path.join(TOP, "build-deb", f"rxmpp*_{version}_*")):
            shutil.copy(path, self.work)
        self.debs[version] = glob.glob(os.path.join(self.work, f"rxmpp_{version}_*.deb"))[0]
        self.changes = glob.glob(os.path.join(self.work, f"rxmpp_{version}_*.changes"))

    def start_node(self):
        """As systemd starts the unit: the runtime folder, the rxmpp user."""
        os.makedirs("/run/rxmpp", mode=0o750, exist_ok=True)
        shutil.chown("/run/rxmpp", "rxmpp", "rxmpp")
        log = open(os.path.join(self.work, "rxmppd.log"), "a")
        process = subprocess.Popen(
            AS_RXMPP + ["/usr/sbin/rxmppd", "--foreground"], stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        wait_until(lambda: process.poll() is not None or sh("rxmppctl", "status", check=False).returncode == 0,
                   timeout=30, what="the installed rxmppd to be ready")
        assert process.poll() is None, self.log()
        return process

    def stop_node(self, process):
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, self.log()

    def log(self):
        with open(os.path.join(self.work, "rxmppd.log")) as f:
            return f.read()

    def undo(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        if installed_version() is not None:
            sh("dpkg", "--purge", "rxmpp", check=False)
        if not self.user_existed and user_exists():
            sh("deluser", "--system", "--quiet", "rxmpp", check=False)
        shutil.rmtree("/run/rxmpp", ignore_errors=True)


@pytest.fixture(scope="module")
def machine():
    if installed_version() is not None or os.path.exists("/etc/rxmpp"):
        pytest.skip("rxmpp is installed on this machine (or /etc/rxmpp exists): the tests would replace it")
    work = tempfile.mkdtemp(prefix="rxmpp-package-", dir="/var/tmp")
    m = Machine(work)
    try:
        yield m
    finally:
        m.undo()
        shutil.rmtree(work, ignore_errors=True)


def test_make_deb_builds_the_package_with_every_file(machine):
    before = sh("git", "status", "--porcelain", cwd=TOP).stdout
    machine.build(VERSION)
    deb = machine.debs[VERSION]
    assert os.path.basename(deb) == f"rxmpp_{VERSION}_{sh('dpkg', '--print-architecture').stdout.strip()}.deb"
    listing = sh("dpkg-deb", "-c", deb).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    missing = [path for path in INSTALLED if path not in files]
    assert not missing, f"not in the package: {missing}"
    assert sh("dpkg-deb", "-f", deb, "Version").stdout.strip() == VERSION
    control = tempfile.mkdtemp(dir=machine.work)
    sh("dpkg-deb", "-e", deb, control)
    assert open(os.path.join(control, "conffiles")).read().split() == [CONFIG]
    # The tree the package was built from stays clean: the build ran on a
    # copy under build-deb/ (ignored by git).
    assert sh("git", "status", "--porcelain", cwd=TOP).stdout == before
    assert not os.path.exists(os.path.join(TOP, "debian"))


def test_lintian_reports_no_errors_or_warnings(machine):
    result = sh("lintian", "--fail-on", "error,warning", *machine.changes, check=False)
    findings = [line for line in result.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert result.returncode == 0 and not findings, result.stdout + result.stderr


def test_install_does_not_start_and_says_what_is_missing(machine):
    result = sh("dpkg", "-i", machine.debs[VERSION])
    assert installed_version() == VERSION
    assert "not started" in result.stderr and "domain: not set" in result.stderr, result.stderr
    user = pwd.getpwnam("rxmpp")
    assert user.pw_uid < 1000 and user.pw_dir == "/var/lib/rxmpp" and user.pw_shell.endswith("nologin")
    for path, owner, group, mode in [(CONFIG, "root", "rxmpp", 0o640), (BRIDGES, "root", "rxmpp", 0o640),
                                     ("/etc/rxmpp", "root", "rxmpp", 0o750),
                                     ("/var/lib/rxmpp", "rxmpp", "rxmpp", 0o750)]:
        st = os.stat(path)
        assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
                stat.S_IMODE(st.st_mode)) == (owner, group, mode), path
    status = sh("rxmppctl", "status", check=False)
    assert status.returncode == 1
    assert "rxmppd is not running" in status.stdout and "domain: not set" in status.stdout, status.stdout
    assert "/etc/rxmpp/rxmpp.key" in status.stdout, status.stdout
    # What systemd would do: rxmppd itself refuses with exit 78 (not retried).
    refused = sh(*AS_RXMPP, "/usr/sbin/rxmppd", "--foreground", check=False)
    assert refused.returncode == 78 and "domain: not set" in refused.stderr, refused.stderr


def test_systemd_unit_verifies_and_is_hardened():
    unit = "/lib/systemd/system/rxmpp.service"
    verify = sh("systemd-analyze", "verify", unit, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    text = open(unit).read()
    for line in ["Type=notify", "User=rxmpp", "RuntimeDirectory=rxmpp", "StateDirectory=rxmpp",
                 "ConfigurationDirectory=rxmpp", "Restart=on-failure", "RestartPreventExitStatus=78",
                 "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK"]:
        assert line in text, line
    security = sh("systemd-analyze", "security", "--offline=true", "--no-pager", unit, check=False)
    level = re.search(r"Overall exposure level for rxmpp.service: ([\d.]+) (\w+)", security.stdout)
    assert level, security.stdout + security.stderr
    # systemd rates 0-2 "OK", up to 10 "UNSAFE".
    assert float(level[1]) <= 2.0 and level[2] == "OK", level[0]
    assert os.path.islink("/etc/systemd/system/multi-user.target.wants/rxmpp.service")


def test_configured_node_serves_a_client_and_a_call_bridge(machine):
    # The administrator's steps: a CA and a certificate with the installed
    # certtool, files the rxmpp user can read, then the rxmppctl verbs.
    certs = os.path.join(machine.work, "pki")
    os.mkdir(certs, 0o750)
    shutil.chown(machine.work, group="rxmpp")
    os.chmod(machine.work, 0o750)
    shutil.chown(certs, group="rxmpp")
    sh("rxmpp-certtool", "ca", "make", f"{certs}/ca", "CN:Package Test CA")
    sh("rxmpp-certtool", "csr", f"{certs}/node", "CN:test.example", "subjectAltName:test.example,localhost")
    sh("rxmpp-certtool", "ca", "sign", f"{certs}/ca", f"{certs}/node.csr", "--out", f"{certs}/node.crt")
    refused = sh("rxmppctl", "certs", f"{certs}/node.key", f"{certs}/node.crt", check=False)
    assert refused.returncode == 1 and "cannot be read by rxmpp" in refused.stderr, refused.stderr
    shutil.chown(f"{certs}/node.key", group="rxmpp")
    os.chmod(f"{certs}/node.key", 0o640)
    sh("rxmppctl", "domain", "test.example")
    sh("rxmppctl", "certs", f"{certs}/node.key", f"{certs}/node.crt")
    sh("rxmppctl", "listen", "127.0.0.1")
    text = open(CONFIG).read()
    text = text.replace("client_port: 5222", f"client_port: {machine.client_port}")
    text = text.replace("component_port: 5223", f"component_port: {machine.component_port}")
    with open(CONFIG, "w") as f:
        f.write(text)
    sh("rxmppctl", "config", "check")
    sh("rxmppctl", "user", "add", "alice", "--stdin", input="alice's package password\n")
    added = sh("rxmppctl", "callbridge", "add", "cb1").stdout
    machine.bridge_secret = re.search(r"^(\S{16,})$", added, re.M)[1]
    assert stat.S_IMODE(os.stat(ACCOUNTS).st_mode) == 0o600
    assert pwd.getpwuid(os.stat(ACCOUNTS).st_uid).pw_name == "rxmpp"
    machine.certs = {"ca": f"{certs}/ca.crt"}

    process = machine.start_node()
    assert f"rxmppd {VERSION} starting for test.example" in machine.log()
    assert "children from /usr/lib/rxmpp" in machine.log()
    for pid in [process.pid] + [int(p) for p in sh("pgrep", "-P", str(process.pid)).stdout.split()]:
        assert os.stat(f"/proc/{pid}").st_uid == pwd.getpwnam("rxmpp").pw_uid
    exchange(machine)
    machine.stop_node(process)


def exchange(machine):
    node = types.SimpleNamespace(certs=machine.certs, client_port=machine.client_port,
                                 component_port=machine.component_port)

    async def scenario():
        alice = await login(node, "alice", "alice's package password")
        bridge = await connect_bridge(node, "cb1", machine.bridge_secret)
        alice.send_message(mto="cb1.test.example", mbody="through the installed package")
        message = await bridge.next_message()
        assert message["body"] == "through the installed package"
        assert message["from"].bare == "alice@test.example"
        await bridge.close()
        await alice.close()

    run(scenario())


def test_upgrade_keeps_configuration_accounts_and_call_bridges(machine):
    kept = {path: sha256(path) for path in [CONFIG, BRIDGES, ACCOUNTS]}
    machine.build(NEWER)
    result = sh("dpkg", "-i", machine.debs[NEWER])
    assert installed_version() == NEWER
    assert "not started" not in result.stderr, result.stderr
    assert {path: sha256(path) for path in kept} == kept
    assert sh("rxmppd", "--version").stdout.strip() == f"rxmppd {NEWER}"
    process = machine.start_node()
    exchange(machine)
    machine.stop_node(process)


def test_purge_removes_configuration_and_state(machine):
    sh("dpkg", "--purge", "rxmpp")
    assert installed_version() is None
    left = [path for path in INSTALLED + ["/etc/rxmpp", "/var/lib/rxmpp", "/usr/lib/rxmpp",
                                          "/usr/share/rxmpp", "/usr/share/doc/rxmpp",
                                          "/etc/systemd/system/multi-user.target.wants/rxmpp.service"]
            if os.path.lexists(path)]
    assert not left, f"left after purge: {left}"
    # Debian policy lets the system user stay (files elsewhere may be its);
    # the fixture removes it, as it made it.
    assert pwd.getpwnam("rxmpp")


def test_make_rpm_builds_the_same_files(machine):
    sh("make", "--no-print-directory", "rpm", cwd=TOP)
    rpms = glob.glob(os.path.join(TOP, "build-rpm", "RPMS", "*", f"rxmpp-{VERSION}-*.rpm"))
    assert len(rpms) == 1, rpms
    # RPM distributions keep units in /usr/lib/systemd/system.
    files = {f.removesuffix(".gz").replace("/usr/lib/systemd/", "/lib/systemd/")
             for f in sh("rpm", "-qlp", rpms[0]).stdout.split()}
    missing = [path for path in INSTALLED if path.removesuffix(".gz") not in files]
    assert not missing, f"not in the RPM: {missing}"
    scripts = sh("rpm", "-qp", "--scripts", rpms[0]).stdout
    assert "useradd" in scripts and "systemctl" in scripts, scripts
    config = sh("rpm", "-qp", "--configfiles", rpms[0]).stdout.split()
    assert CONFIG in config, config
