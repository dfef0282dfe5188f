# SPDX-License-Identifier: MIT
"""`make run`, the README's first command: scripts/run-local.sh makes its
certificate authority, three node configurations and demo accounts, forms a
three-node cluster on loopback, prints how to connect, and a demo user logs
in and exchanges a message across two nodes; the failover recipe the banner
prints (find the leader, kill it, bring it back) works as printed; SIGTERM
stops the three nodes and the one brought back.  A node that cannot start (a
port taken) ends the run with that node's own error and nothing left
running.  It runs in a scratch copy of the checkout's layout (the script keeps
everything under ../run beside itself) with the real build."""

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import threading

import pytest

from rxmpp_node import BUILD, process_alive, wait_until

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "run-local.sh")
PORTS = [5222, 5223, 5224, 5225, 5322, 5323, 5324, 5325, 5422, 5423, 5424, 5425]


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def scratch_checkout(tmp_path):
    busy = [p for p in PORTS if not port_free(p)]
    if busy:
        pytest.skip(f"make run's fixed ports are taken here: {busy}")
    top = tmp_path / "checkout"
    (top / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, top / "scripts" / "run-local.sh")
    os.symlink(os.path.abspath(BUILD), top / "build")
    return top


def start_make_run(top):
    proc = subprocess.Popen(["bash", str(top / "scripts" / "run-local.sh"), "build"],
                            cwd=top, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    return proc, output, reader


def rxmppd_running(tmp_path):
    pids = subprocess.run(["pgrep", "-f", f"rxmppd.*{tmp_path}"], capture_output=True,
                          text=True).stdout.split()
    return [p for p in pids if process_alive(int(p))]


def test_make_run_forms_a_cluster_where_the_demo_users_talk(tmp_path):
    top = scratch_checkout(tmp_path)
    proc, output, reader = start_make_run(top)
    brought_back = None
    try:
        wait_until(lambda: proc.poll() is not None or "stop:      Ctrl-C" in "".join(output),
                   timeout=60, what="make run to print how to connect")
        text = "".join(output)
        assert proc.poll() is None, f"make run ended with {proc.returncode}:\n{text}"
        assert "Three nodes of domain localhost run on 127.0.0.1" in text, text
        run = top / "run"
        ctl = [os.path.join(BUILD, "bin", "rxmppctl"), "--config"]

        def members(n):
            result = subprocess.run(ctl + [str(run / f"node{n}" / "rxmpp.yaml"), "cluster",
                                           "status", "--json"], capture_output=True, text=True)
            return len(json.loads(result.stdout)["members"]) if result.returncode == 0 else 0

        wait_until(lambda: all(members(n) == 3 for n in (1, 2, 3)), timeout=20,
                   what="the three nodes to list three members")
        credentials = dict(line.split() for line in (run / "demo-credentials").read_text()
                           .splitlines())
        demo_users_talk(run, credentials)
        # The nodes share a TLS ticket key, the owner's only.
        assert stat.S_IMODE(os.stat(run / "ticket.key").st_mode) == 0o600
        assert "ticket_key: ../ticket.key" in (run / "node1" / "rxmpp.yaml").read_text()
        assert "call bridge (an XEP-0114 component" in text
        assert "component cb1.localhost, secret " + credentials["cb1.localhost"] in text
        brought_back = follow_the_failover_recipe(top, text)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    # The script's own stop handler ended every node it started.
    assert proc.returncode == 0, "".join(output)
    assert "stopping the three nodes" in "".join(output)
    assert not rxmppd_running(tmp_path)
    # Started by hand with a relative path: stopped too, found by its socket.
    assert brought_back is not None and not process_alive(brought_back)


def recipe(text):
    """The commands the banner's failover recipe gives, in order."""
    return [line.strip()[2:] for line in text.splitlines() if line.startswith("    $ ")]


def follow_the_failover_recipe(top, text):
    find, kill, ask, bring_back = recipe(text)
    ctl = [os.path.join(BUILD, "bin", "rxmppctl"), "--config"]

    def shell(command):
        return subprocess.run(["bash", "-c", command], cwd=top, capture_output=True,
                              text=True, timeout=30)

    def leader():
        found = shell(find).stdout.split()
        return int(found[1]) if found[:1] == ["node"] else None

    old = wait_until(leader, timeout=20, what="the recipe to find the leader")
    old_pid = int(json.loads(shell(f"build/bin/rxmppctl -c run/node{old}/rxmpp.yaml "
                                   "status --json").stdout)["pid"])
    assert shell(kill.replace("nodeN", f"node{old}")).returncode == 0
    wait_until(lambda: not process_alive(old_pid), timeout=10, what="the leader to die")
    other = 1 if old != 1 else 2
    wait_until(lambda: leader() not in (None, old), timeout=20, what="a new leader")
    answer = shell(ask.replace("nodeM", f"node{other}"))
    assert answer.returncode == 0 and "LEADER" in answer.stdout or "Leader" in answer.stdout
    # Its child ends with the shell; rxmppd goes on, detached from the test.
    back = subprocess.Popen(["bash", "-c", bring_back.replace("nodeN", f"node{old}")],
                            cwd=top, start_new_session=True)
    back.wait(timeout=30)
    config = str(top / "run" / f"node{old}" / "rxmpp.yaml")

    def rejoined():
        result = subprocess.run(ctl + [config, "cluster", "status", "--json"],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            return None
        status = json.loads(result.stdout)
        return status["state"] == "FOLLOWER" and status["leader"] is not None

    wait_until(rejoined, timeout=30, what=f"node {old} to come back as a follower")
    status = subprocess.run(ctl + [config, "status", "--json"], capture_output=True, text=True,
                            timeout=30)
    return int(json.loads(status.stdout)["pid"])


def test_make_run_with_a_port_taken_fails_with_the_nodes_error_and_stops_all(tmp_path):
    top = scratch_checkout(tmp_path)
    # Node 2's client port, held by someone else: nodes 1 and 3 start.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 5322))
        taken.listen()
        proc, output, reader = start_make_run(top)
        try:
            proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            reader.join(timeout=30)
    text = "".join(output)
    assert proc.returncode == 1, text
    assert "make run: node 2 (rxmppd --config run/node2/rxmpp.yaml) exited with status" in text
    # The node's own words, not rxmppctl's "cannot reach".
    assert "cannot listen on 127.0.0.1 port 5322: Address already in use" in text, text
    assert "Three nodes of domain" not in text
    assert not rxmppd_running(tmp_path), text

    # The port free again, with configurations made before rxmppd knew user:
    # (started as root it would become rxmpp, who cannot enter run/): the
    # script gives them the user running it, and the run starts.
    for n in (1, 2, 3):
        config = top / "run" / f"node{n}" / "rxmpp.yaml"
        config.write_text("".join(line for line in config.read_text().splitlines(True)
                                  if "user" not in line))
    proc, output, reader = start_make_run(top)
    try:
        wait_until(lambda: proc.poll() is not None or "stop:      Ctrl-C" in "".join(output),
                   timeout=60, what="make run to print how to connect")
        assert proc.poll() is None, "".join(output)
        for n in (1, 2, 3):
            config = (top / "run" / f"node{n}" / "rxmpp.yaml").read_text()
            assert f"\nuser: {pwd.getpwuid(os.geteuid()).pw_name}\n" in config, config
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    assert proc.returncode == 0, "".join(output)
    assert not rxmppd_running(tmp_path)


def demo_users_talk(run, credentials):
    from xmpp import Client, WAIT, run as run_xmpp
    import asyncio

    async def login(user, port, resource):
        client = Client(f"{user}@localhost/{resource}", credentials[f"{user}@localhost"],
                        str(run / "ca.crt"))
        client.connect(address=("127.0.0.1", port))
        await asyncio.wait_for(client.started, WAIT)
        return client

    async def scenario():
        alice = await login("alice", 5222, "one")
        bob = await login("bob", 5322, "two")
        # Until bob's session has reached the leader, a message may bounce.
        for _ in range(50):
            alice.send_message(mto="bob@localhost/two", mbody="hello from node 1", mtype="chat")
            try:
                message = await bob.next_message(timeout=0.5)
                break
            except asyncio.TimeoutError:
                continue
        assert message["body"] == "hello from node 1"
        await alice.close()
        await bob.close()

    run_xmpp(scenario())
