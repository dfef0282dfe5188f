# SPDX-License-Identifier: MIT
"""`make run`, the README's first command: scripts/run-local.sh makes its
certificate authority, three node configurations and demo accounts, forms a
three-node cluster on loopback, prints how to connect, and a demo user logs
in and exchanges a message across two nodes; SIGTERM stops the three nodes.
It runs in a scratch copy of the checkout's layout (the script keeps
everything under ../run beside itself) with the real build."""

import json
import os
import shutil
import signal
import socket
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


def test_make_run_forms_a_cluster_where_the_demo_users_talk(tmp_path):
    busy = [p for p in PORTS if not port_free(p)]
    if busy:
        pytest.skip(f"make run's fixed ports are taken here: {busy}")
    top = tmp_path / "checkout"
    (top / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, top / "scripts" / "run-local.sh")
    os.symlink(os.path.abspath(BUILD), top / "build")
    proc = subprocess.Popen(["bash", str(top / "scripts" / "run-local.sh"), "build"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
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
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    # The script's own stop handler ended every node it started.
    assert proc.returncode == 0, "".join(output)
    assert "stopping the three nodes" in "".join(output)
    pids = subprocess.run(["pgrep", "-f", f"rxmppd.*{tmp_path}"], capture_output=True,
                          text=True).stdout.split()
    assert not [p for p in pids if process_alive(int(p))]


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
