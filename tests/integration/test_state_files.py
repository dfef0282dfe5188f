# SPDX-License-Identifier: MIT
"""State files prove themselves: a node whose election file was damaged
(or is gone) does not report ready, stops with status 78 and names the
file and line; `rxmppctl reset` and starting again is the way back; a file
of the previous format is read once and rewritten sealed.  An elector that
stopped because its state directory was full comes back as soon as the
directory takes a write, not after a restart backoff."""

import errno
import os
import re
import subprocess
import time

import pytest

from rxmpp_node import wait_until
from test_cluster import cluster_node, form_cluster, status


def damaged_start(node):
    """Starts `node` and returns its log once rxmppd gave up (status 78)."""
    node.start(wait_ready=False)
    assert node.proc.wait(timeout=30) == 78
    node.reader.join(timeout=10)
    log = "\n".join(node.lines)
    assert not re.search(rf"rxmppd\[{node.proc.pid}\]: ready:", log)
    return log


def offline_status(node):
    """What `rxmppctl status` says of the stopped node."""
    result = node.ctl("status", check=False)
    assert result.returncode == 1
    assert "It cannot start until this is put right" in result.stdout, result.stdout
    return result.stdout


def test_damaged_election_file_is_refused_with_file_and_line(node_factory, certs):
    node = form_cluster(node_factory, certs, size=1)[0]
    term = status(node)["term"]
    assert node.stop() == 0
    path = os.path.join(node.dir, "state", "election")
    with open(path) as f:
        text = f.read()
    assert text.startswith("rxmpp-election 3\n") and "\nsha256 " in text
    # A changed digit: the checksum no longer matches.
    with open(path, "w") as f:
        f.write(text.replace(f"\nterm {term}\n", f"\nterm {term + 1}\n"))
    log = damaged_start(node)
    assert re.search(rf"{re.escape(path)}:\d+: checksum mismatch.*rxmppctl reset", log), log
    assert re.search(rf"{re.escape(path)}:\d+: checksum mismatch", offline_status(node))
    # A term of -1 in a file of the previous format: refused by the parser.
    with open(path, "w") as f:
        f.write("term -1\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n")
    log = damaged_start(node)
    assert re.search(rf"{re.escape(path)}:1: the term is not a decimal number", log), log


def test_lost_election_file_stops_the_node_until_reset(node_factory, certs):
    node = form_cluster(node_factory, certs, size=1)[0]
    old_id = status(node)["node"]
    assert node.stop() == 0
    os.unlink(os.path.join(node.dir, "state", "election"))
    log = damaged_start(node)
    assert re.search(r"state/election is missing but this node has an id.*rxmppctl reset",
                     log), log
    assert "election is missing" in offline_status(node)
    assert "removed" in node.ctl("reset", "--yes", "--force").stdout
    node.start()
    assert status(node)["node"] != old_id
    assert "initialized" in node.ctl("cluster", "initialize").stdout


def test_previous_format_is_rewritten(node_factory, certs):
    node = form_cluster(node_factory, certs, size=1)[0]
    before = status(node)
    assert node.stop() == 0
    state = os.path.join(node.dir, "state")
    member = before["members"][0]
    with open(os.path.join(state, "node-id"), "w") as f:
        f.write(f"{before['node']}\n")
    with open(os.path.join(state, "election"), "w") as f:
        f.write("# rxmpp election state (written by the elector; do not edit)\n"
                f"term {before['term']}\nvoted_for {before['node']}\ncommit 1\nconfig 1 1\n"
                f"member {member['node']} {member['address']}\n")
    # Version 0.1 kept no log: its membership becomes the log's snapshot.
    for name in ("log", "snapshot"):
        if os.path.exists(os.path.join(state, name)):
            os.unlink(os.path.join(state, name))
    mark = node.log_mark()
    node.start()
    node.wait_log(r"election was in the previous format .* rewrote it sealed", start=mark)
    node.wait_log(r"is now the log's snapshot; the log starts behind it", start=mark)
    node.wait_log(r"node-id was in the previous format", start=mark)
    with open(os.path.join(state, "election")) as f:
        assert f.read().startswith("rxmpp-election 3\n")
    after = status(node)
    assert after["node"] == before["node"] and after["term"] >= before["term"]
    # Its member line had no certificate fingerprint: the leader binds itself.
    node.wait_log(r"member [0-9a-f]{16} at .* bound to its certificate", start=mark)


def fill(directory):
    """Writes a file in `directory` until the filesystem is full."""
    path = os.path.join(directory, "filler")
    with open(path, "wb", buffering=0) as f:
        for _ in range(100000):
            try:
                f.write(b"x" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC
                return path
    raise AssertionError("the filesystem never filled up")


def test_elector_comes_back_as_soon_as_the_disk_takes_writes(node_factory, certs):
    node = cluster_node(node_factory, certs)
    state = os.path.join(node.dir, "state")
    # A small filesystem of our own to fill (root is not stopped by modes).
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr!r}")
    ctl = None
    try:
        node.start()
        elector = node.children()["elector"]
        filler = fill(state)
        mark = node.log_mark()
        # Initializing changes the membership: the elector must persist it.
        # (The elector dies before it answers, so rxmppctl is not waited for.)
        ctl = subprocess.Popen([os.path.join(node.bin, "rxmppctl"), "--config", node.config,
                                "cluster", "initialize"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        node.wait_log(r"cannot persist the election state .*No space left", start=mark)
        node.wait_log(r"elector \(pid \d+\) exited with status 74: it cannot write its state"
                      r".*restarting it as soon as a test write there succeeds", start=mark)
        # Not restarted into the full disk, so no backoff builds up.
        time.sleep(2.5)
        waiting = node.children()["elector"]
        assert waiting["state"] == "no-storage" and waiting["pid"] == 0
        assert waiting["generation"] == elector["generation"]
        mark = node.log_mark()
        os.unlink(filler)
        node.wait_log(r"takes writes again; restarting elector", start=mark, timeout=5)
        wait_until(lambda: node.children()["elector"]["state"] == "ready",
                   what="the elector to be ready again")
        assert node.children()["elector"]["generation"] == elector["generation"] + 1
        assert "initialized" in node.ctl("cluster", "initialize").stdout
        assert status(node)["state"] == "LEADER"
    finally:
        if ctl is not None:
            ctl.kill()
            ctl.wait()
        node.stop()
        subprocess.run(["umount", state], check=True)


def test_damaged_accounts_file_stops_the_node(node_factory):
    node = node_factory()
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    path = os.path.join(node.dir, "state", "accounts")
    with open(path) as f:
        text = f.read()
    assert text.startswith("rxmpp-accounts 1\n") and "\nsha256 " in text
    # One user's line gone (cut at a line boundary): not "one user fewer".
    lines = text.splitlines(keepends=True)
    with open(path, "w") as f:
        f.write("".join(line for line in lines if not line.startswith("bob ")))
    log = damaged_start(node)
    assert re.search(rf"{re.escape(path)}:\d+: checksum mismatch.*rxmppctl user add", log), log
    assert re.search(rf"{re.escape(path)}:\d+: checksum mismatch", offline_status(node))


def test_the_accounts_journal_is_read_back_at_restart_and_damage_stops_the_node(
        node_factory, certs):
    """In a cluster a change is appended to state/accounts.journal, not a
    rewrite of every account: the listener reads it at the next log-in,
    rxmppd reads it at start (a damaged record stops the node, naming the
    file and byte; an append a crash cut short is cut), and the node comes
    back with every user."""
    from xmpp import login, run

    node = form_cluster(node_factory, certs, size=1)[0]
    for name in ("alice", "bob", "carol"):
        result = node.ctl_input(["user", "add", name, "--stdin"], name + "-pw\n")
        assert result.returncode == 0, result.stderr
    state = os.path.join(node.dir, "state")
    accounts, journal = os.path.join(state, "accounts"), os.path.join(state, "accounts.journal")
    with open(accounts) as f:
        assert "\ncarol " not in f.read()  # in the journal only
    with open(journal, "rb") as f:
        data = f.read()
    assert data.startswith(b"RXMPPACJ") and b"carol" in data

    async def logins():
        for name in ("alice", "carol"):
            client = await login(node, name, name + "-pw")
            await client.close()

    run(logins())
    assert node.stop() == 0

    # A flipped byte in the first of several records: damage, not a tail.
    first = 80
    assert data.count(b"RXMPPACJ") == 1 and len(data) > first + 200
    with open(journal, "r+b") as f:
        f.seek(first + 20)
        f.write(bytes([data[first + 20] ^ 0x10]))
    log = damaged_start(node)
    assert re.search(rf"{re.escape(journal)}, byte {first}: the checksum of a record's bytes "
                     r"does not match them \(damaged\)", log), log

    # The last append cut short by a crash: cut at start, nothing else lost.
    with open(journal, "wb") as f:
        f.write(data[:-7])
    node.start()
    node.wait_log(rf"{re.escape(journal)}: the last \d+ bytes from byte \d+ were an append a "
                  r"crash cut short; cut")
    wait_until(lambda: node.ctl("user", "list").stdout.split() == ["alice", "bob", "carol"],
               timeout=20, what="every user back from the cluster's log")
    run(logins())


def test_accounts_of_the_previous_format_are_rewritten(node_factory):
    from xmpp import login, run

    node = node_factory()
    node.add_user("alice", "alice-pw")
    path = os.path.join(node.dir, "state", "accounts")
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    alice = next(line for line in lines if line.startswith("alice "))
    with open(path, "w") as f:
        f.write("# rxmpp accounts, format 1: salted SCRAM keys only (rxmppctl user ...)\n" + alice)
    node.start()
    node.wait_log(r"accounts was in the previous format .* read 1 accounts once and rewrote it")
    with open(path) as f:
        assert f.read().startswith("rxmpp-accounts 1\n")

    async def scenario():
        client = await login(node, "alice", "alice-pw")
        client.disconnect()

    run(scenario())
