# SPDX-License-Identifier: MIT
"""The certificate worker: it checks the key, certificate and bundle before
the listener gets them, swaps them live when the files change (sessions
stay, new connections see the new certificate), refuses a bad set with the
reason while the old one stays in use, stops a node from starting with a
bad set, warns before expiry and reports to rxmppctl status."""

import os
import signal

import pytest

from pki import Pki
from raw import Raw
from xmpp import login, run


@pytest.fixture
def pki(tmp_path):
    pki = Pki(tmp_path / "pki")
    pki.write_key("node.key", pki.leaf)
    pki.write_chain("node.crt", pki.leaf)
    pki.write_chain("chain.pem", pki.int2, pki.int1)
    pki.write_chain("root.crt", pki.root)
    return pki


def node_with(node_factory, pki, extra=""):
    files = {"key": pki.path("node.key"), "cert": pki.path("node.crt"),
             "bundle": pki.path("chain.pem"), "ca": pki.path("root.crt")}
    node = node_factory(extra=extra)
    node.certs = files
    node.write_config(extra=extra)
    return node


def served_serial(node):
    """The serial of the certificate a new client is shown, as hex."""
    raw = Raw(node.client_port, node.certs["ca"])
    try:
        raw.starttls()
        return raw.sock.getpeercert()["serialNumber"].upper().lstrip("0")
    finally:
        raw.close()


def replace_set(pki, issued):
    # Certificate first, then key: a watcher may see the pair half-replaced
    # for a moment, which is what the settling time is for.
    pki.write_chain("node.crt", issued)
    pki.write_key("node.key", issued)


def test_replaced_files_are_taken_live_and_sessions_stay(node_factory, pki):
    node = node_with(node_factory, pki)
    for user in ("a", "b"):
        node.add_user(user, "pw-" + user)
    node.start()
    node.wait_log(r"listener\[\d+\]: TLS certificate in use: CN=test.example from .*node.crt")
    assert served_serial(node) == pki.leaf.serial_hex()

    async def scenario():
        a = await login(node, "a", "pw-a")
        mark = node.log_mark()
        replace_set(pki, pki.renewed)
        node.wait_log(r"certworker\[\d+\]: the TLS files changed", start=mark)
        node.wait_log(r"listener\[\d+\]: TLS certificate replaced: CN=test.example", start=mark)
        assert served_serial(node) == pki.renewed.serial_hex()
        b = await login(node, "b", "pw-b")
        a.send_message(mto="b@test.example", mbody="across the swap")
        assert (await b.next_message())["body"] == "across the swap"
        b.send_message(mto="a@test.example", mbody="and back")
        assert (await a.next_message())["body"] == "and back"
        await b.close()
        await a.close()

    run(scenario())
    # A restarted listener gets the set in use from the worker.
    old = node.children()["listener"]["pid"]
    os.kill(old, signal.SIGKILL)
    node.wait_child_back("listener", old)
    assert served_serial(node) == pki.renewed.serial_hex()


def test_a_bad_replacement_is_refused_and_the_old_set_stays(node_factory, pki):
    node = node_with(node_factory, pki).start()
    mark = node.log_mark()
    replace_set(pki, pki.expired)
    line = node.wait_log(r"certworker\[\d+\]: the changed TLS files are refused; the set in "
                         r"use stays: ", start=mark)
    assert "certificate #1 (CN=test.example) expired on" in line
    assert served_serial(node) == pki.leaf.serial_hex()
    cert = node.status()["certificate"]
    assert cert["refused"] is True and "expired on" in cert["problem"]
    assert cert["subject"] == "CN=test.example"
    text = node.ctl("status").stdout
    assert "certificate files REFUSED (the set in use stays)" in text
    # A worker restarted now finds the bad files: the listener keeps its set.
    old = node.children()["certworker"]["pid"]
    os.kill(old, signal.SIGKILL)
    node.wait_child_back("certworker", old)
    node.wait_log(r"certworker\[\d+\]: the TLS files are refused; the listener keeps its set")
    assert served_serial(node) == pki.leaf.serial_hex()
    # Good files again: taken, and the refusal is gone.
    mark = node.log_mark()
    replace_set(pki, pki.renewed)
    node.wait_log(r"listener\[\d+\]: TLS certificate replaced", start=mark)
    assert served_serial(node) == pki.renewed.serial_hex()
    assert node.status()["certificate"]["refused"] is False


def test_rxmppctl_certs_and_reload_refuse_a_bad_set(node_factory, pki):
    node = node_with(node_factory, pki).start()
    config_before = open(node.config, "rb").read()
    wrong = node.ctl("certs", pki.write_key("other.key", pki.renewed), pki.path("node.crt"),
                     check=False)
    assert wrong.returncode == 1
    assert "other.key does not belong to" in wrong.stderr and "is unchanged" in wrong.stderr
    assert open(node.config, "rb").read() == config_before
    # A file edited by hand to name an expired certificate: the reload says
    # the certificate worker refused it, and the old set stays in use.
    expired = pki.write_chain("expired.crt", pki.expired)
    node.write_config(text=open(node.config).read().replace(pki.path("node.crt"), expired)
                      .replace(pki.path("node.key"), pki.write_key("expired.key", pki.expired)))
    result = node.ctl("reload", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("configuration partly refused:\ncertworker refused it: ")
    assert "expired on" in result.stderr
    assert "the rest was taken (configuration reloaded; " in result.stderr, result.stderr
    assert served_serial(node) == pki.leaf.serial_hex()


def test_a_node_with_a_bad_set_does_not_start(node_factory, pki):
    pki.write_key("node.key", pki.renewed)  # not the key of node.crt
    node = node_with(node_factory, pki)
    node.start(wait_ready=False)
    assert node.proc.wait(timeout=30) == 78
    line = node.wait_log(r"certworker\[\d+\]: cannot start with this configuration: ")
    assert "node.key does not belong to" in line and "node.crt (CN=test.example)" in line
    assert "BEGIN" not in "\n".join(node.lines)


def test_expiry_warning_and_status(node_factory, pki):
    node = node_with(node_factory, pki, extra="").start()
    # The fixtures expire in 30 days, inside the default 30-day warning.
    node.wait_log(r"certworker\[\d+\]: the TLS certificate #1 \(CN=test.example\) expires in "
                  r"29 days")
    status = node.status()
    assert status["certificate_days_left"] == 29
    assert status["certificate"]["subject"] == "CN=test.example"
    assert "renew it soon" in node.ctl("status").stdout
    quiet = node_with(node_factory, pki, extra="")
    quiet.write_config(text=quiet.config_text().replace(
        "tls:\n", "tls:\n  expiry_warning: 10d\n"))
    quiet.start()
    assert not any("expires in" in line for line in quiet.lines)
