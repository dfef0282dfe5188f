# SPDX-License-Identifier: MIT
"""What the daemon's user can do, checked before it fails: rxmppctl config
check (and status of a stopped node) runs as root but judges as the user
rxmppd runs as (`user:`, here nobody), through every folder on the way to
each TLS file, and the state directory it writes; cluster trust refuses a
file with a private key and installs certificates mode 0644; rxmppd started
as root becomes `user:` after binding (every child too), or refuses with the
reason.  pytest's own folders are root's (0700), so everything lives under a
folder of /tmp that nobody may pass, made here."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile

import pytest

from rxmpp_node import BIN, Node, free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as nobody")

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def open_dir():
    """A folder of /tmp that every user may pass (pytest's is root's 0700)."""
    path = tempfile.mkdtemp(prefix="rxmpp-privileges-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def setup_node_files(base, certs, user="nobody"):
    """Configuration, key, certificate and state folder in `base`, all
    usable by nobody; the test then breaks one thing."""
    key, cert = os.path.join(base, "node.key"), os.path.join(base, "node.crt")
    shutil.copy(certs["cert"], cert)
    shutil.copy(certs["key"], key)
    os.chmod(cert, 0o644)
    os.chown(key, 0, NOBODY.pw_gid)
    os.chmod(key, 0o640)
    state = os.path.join(base, "state")
    os.mkdir(state, 0o700)
    os.chown(state, NOBODY.pw_uid, NOBODY.pw_gid)
    run = os.path.join(base, "run")
    os.mkdir(run, 0o750)
    os.chown(run, NOBODY.pw_uid, NOBODY.pw_gid)
    config = os.path.join(base, "rxmpp.yaml")
    with open(config, "w") as f:
        f.write(f"domain: test.example\nuser: {user}\nstate_directory: state\n"
                f"control_socket: run/control.sock\ncallbridges_file: callbridges.yaml\n"
                f"listen:\n  addresses: [127.0.0.1]\n  client_port: {free_port()}\n"
                f"  component_port: {free_port()}\n"
                f"tls:\n  key: {key}\n  certificate: {cert}\n")
    os.chmod(config, 0o644)
    return config, key, state


def config_check(config):
    return subprocess.run([os.path.join(BIN, "rxmppctl"), "-c", config, "config", "check"],
                          capture_output=True, text=True, timeout=30)


def test_config_check_judges_tls_files_as_the_daemons_user(open_dir, certs):
    config, key, _ = setup_node_files(open_dir, certs)
    result = config_check(config)
    assert result.returncode == 0, result.stderr
    # Root reads a key in a folder of its own; nobody cannot get through it.
    private = os.path.join(open_dir, "private")
    os.mkdir(private, 0o700)
    hidden = os.path.join(private, "node.key")
    shutil.copy(key, hidden)
    os.chmod(hidden, 0o644)
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(text.replace(key, hidden))
    result = config_check(config)
    assert result.returncode == 1, result.stdout
    assert (f"the TLS key (tls.key) {hidden} cannot be reached by nobody, the user rxmppd "
            f"runs as: {private} (mode 0700, root:root) does not let it through") in \
        result.stderr, result.stderr
    # The folder lets it through, the key itself is root's alone.
    os.chmod(private, 0o755)
    os.chmod(hidden, 0o600)
    result = config_check(config)
    assert result.returncode == 1
    assert (f"the TLS key (tls.key) {hidden} (mode 0600, root:root) cannot be read by nobody"
            in result.stderr), result.stderr
    # Readable through its group, as the daemon's user needs it.
    os.chmod(hidden, 0o640)
    os.chown(hidden, 0, NOBODY.pw_gid)
    assert config_check(config).returncode == 0


def test_config_check_wants_a_state_directory_the_daemons_user_can_write(open_dir, certs):
    config, _, state = setup_node_files(open_dir, certs)
    os.chown(state, 0, 0)
    os.chmod(state, 0o755)
    result = config_check(config)
    assert result.returncode == 1
    assert (f"the state directory (state_directory) {state} (mode 0755, root:root) cannot be "
            f"written by nobody" in result.stderr), result.stderr
    os.rmdir(state)
    result = config_check(config)
    assert result.returncode == 1
    assert f"the state directory (state_directory) {state} does not exist" in result.stderr
    # status of a stopped node says the same.
    status = subprocess.run([os.path.join(BIN, "rxmppctl"), "-c", config, "status"],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 1 and "It cannot start until this is put right" in status.stdout
    assert f"{state} does not exist" in status.stdout, status.stdout


def test_config_check_names_a_user_that_does_not_exist(open_dir, certs):
    config, _, _ = setup_node_files(open_dir, certs, user="rxmpp-test-nosuchuser")
    result = config_check(config)
    assert result.returncode == 1
    assert "there is no user 'rxmpp-test-nosuchuser' (user: in" in result.stderr, result.stderr


def become_nobody():
    os.setgroups([])
    os.setgid(NOBODY.pw_gid)
    os.setuid(NOBODY.pw_uid)


def test_config_check_as_another_user_checks_as_itself_or_says_it_cannot(open_dir, certs):
    config, _, state = setup_node_files(open_dir, certs)
    as_nobody = subprocess.run([os.path.join(BIN, "rxmppctl"), "-c", config, "config", "check"],
                               capture_output=True, text=True, timeout=30,
                               preexec_fn=become_nobody)
    assert as_nobody.returncode == 0, as_nobody.stderr
    os.chown(state, 0, 0)
    as_nobody = subprocess.run([os.path.join(BIN, "rxmppctl"), "-c", config, "config", "check"],
                               capture_output=True, text=True, timeout=30,
                               preexec_fn=become_nobody)
    assert as_nobody.returncode == 1 and "cannot be written by nobody" in as_nobody.stderr
    # Not the daemon's user: it cannot judge for it, and says so.
    os.chown(state, NOBODY.pw_uid, NOBODY.pw_gid)
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(text.replace("user: nobody", "user: root"))
    as_nobody = subprocess.run([os.path.join(BIN, "rxmppctl"), "-c", config, "config", "check"],
                               capture_output=True, text=True, timeout=30,
                               preexec_fn=become_nobody)
    assert as_nobody.returncode == 0, as_nobody.stderr
    assert "note: not checked whether root, the user rxmppd runs as" in as_nobody.stderr


def test_cluster_trust_refuses_a_private_key_and_installs_certificates_0644(open_dir, certs):
    config, key, _ = setup_node_files(open_dir, certs)
    installed = os.path.join(open_dir, "cluster-trust.pem")
    with open(config, "a") as f:
        f.write(f"cluster:\n  trust_bundle: {installed}\n")
    mixed = os.path.join(open_dir, "mixed.pem")
    with open(mixed, "w") as f:
        f.write(open(certs["ca"]).read() + open(key).read())
    ctl = [os.path.join(BIN, "rxmppctl"), "-c", config, "cluster", "trust"]
    result = subprocess.run(ctl + [mixed], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"{mixed} holds a private key" in result.stderr, result.stderr
    assert not os.path.exists(installed)
    result = subprocess.run(ctl + [certs["ca"]], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(installed).st_mode) == 0o644
    assert open(installed).read() == open(certs["ca"]).read()


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return None


def test_rxmppd_started_as_root_runs_as_the_configured_user(open_dir, certs):
    bin_dir = os.path.join(open_dir, "bin")
    shutil.copytree(BIN, bin_dir)
    node_dir = os.path.join(open_dir, "node")
    os.mkdir(node_dir)
    os.chmod(node_dir, 0o755)
    # The control socket's folder: the daemon removes its socket at stop.
    os.chown(node_dir, NOBODY.pw_uid, NOBODY.pw_gid)
    local_certs = {"key": os.path.join(node_dir, "node.key"),
                   "cert": os.path.join(node_dir, "node.crt")}
    shutil.copy(certs["cert"], local_certs["cert"])
    shutil.copy(certs["key"], local_certs["key"])
    os.chmod(local_certs["cert"], 0o644)
    os.chown(local_certs["key"], 0, NOBODY.pw_gid)
    os.chmod(local_certs["key"], 0o640)
    node = Node(node_dir, local_certs, bin_dir=bin_dir)
    os.chown(os.path.join(node_dir, "state"), NOBODY.pw_uid, NOBODY.pw_gid)
    node.write_config(text=node.config_text().replace("user: root", "user: nobody"))
    os.chmod(node.config, 0o644)
    try:
        node.start()
        node.wait_log(r"running as the user nobody \(uid 65534")
        status = node.status()
        pids = [status["pid"]] + [p["pid"] for p in status["processes"] if p["pid"]]
        assert len(pids) >= 5
        for pid in pids:
            assert uid_of(pid) == [NOBODY.pw_uid] * 4, pid
        # The control socket is the daemon's now, so it can remove it at stop.
        assert os.stat(node.control).st_uid == NOBODY.pw_uid
        assert "next start" not in node.ctl("status").stdout
        assert node.status()["next_start_problems"] is None
        # user: is read once, at start: a reload keeps the user and says so.
        node.write_config(text=node.config_text().replace("user: root", "user: daemon"))
        os.chmod(node.config, 0o644)
        assert node.ctl("reload").returncode == 0
        node.wait_log(r"user changes when rxmppd restarts \(as root\); still running as before")
        assert uid_of(status["pid"]) == [NOBODY.pw_uid] * 4
        node.write_config(text=node.config_text().replace("user: root", "user: nobody"))
        os.chmod(node.config, 0o644)
        # The key made root's alone while it runs: status warns of the next start.
        os.chown(local_certs["key"], 0, 0)
        os.chmod(local_certs["key"], 0o600)
        status = node.ctl("status").stdout
        assert "The next start would fail until this is put right:" in status, status
        assert f"the TLS key (tls.key) {local_certs['key']} (mode 0600, root:root) cannot be " \
            "read by nobody" in status, status
        assert "cannot be read by nobody" in node.status()["next_start_problems"]
        assert node.stop() == 0
        assert not os.path.exists(node.control)
    finally:
        node.cleanup()


def test_rxmppd_refuses_a_user_that_does_not_exist(open_dir, certs):
    config, _, _ = setup_node_files(open_dir, certs, user="rxmpp-test-nosuchuser")
    result = subprocess.run([os.path.join(BIN, "rxmppd"), "--foreground", "-c", config],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 78
    assert ("started as root, rxmppd runs as the user 'rxmpp-test-nosuchuser' (user: in"
            in result.stderr), result.stderr
    assert "not starting" in result.stderr
    assert not os.path.exists(os.path.join(open_dir, "run", "control.sock"))
