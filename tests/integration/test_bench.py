# SPDX-License-Identifier: MIT
"""The benchmark load generator (tests/bench/rxmpp-load) against real nodes,
small: it must log in with SCRAM and PLAIN, count every message (none lost
or repeated), talk to call bridges, and in the failover scenario bring the
killed leader's clients back on the survivors.  Behaviour only: no figure
of speed is checked here (make bench measures)."""

import json
import os
import subprocess

from rxmpp_node import BUILD
from test_cluster import add_bridges, add_users, form_cluster, leader_of

LOAD = os.path.join(BUILD, "tests", "rxmpp-load")
SECRET = "load-test-bridge-secret"


def prepare(nodes, accounts=3):
    """The load generator's accounts and bridges on every node of `nodes`
    (once through a cluster that holds its state)."""
    add_users(nodes, {f"bench{i}": "bench-password" for i in range(accounts)})
    add_bridges(nodes, {"cb0": SECRET, "cb1": SECRET})


def load(node, scenario, *args, ports=None, root=None, accounts=3, timeout=120):
    command = [LOAD, scenario, "--json", "--accounts", str(accounts), "--bridge-secret", SECRET,
               "--port", ",".join(str(p) for p in (ports or [node.client_port])),
               "--component-port", str(node.component_port), "--ca", node.certs["ca"],
               "--server-root", str(root or node.proc.pid), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_setup_idle_chat_and_bridges_count_everything(node_factory):
    node = node_factory()
    prepare([node], accounts=10)
    node.start()
    # Enough log-ins that the server's CPU, read in 10 ms ticks from /proc,
    # cannot round to zero (30 did, once in a few runs).
    setup = load(node, "setup", "--sessions", "200", "--concurrency", "10", accounts=10)
    assert setup["sessions"] == 200 and setup["server_cpu_per_setup"] > 0
    plain = load(node, "setup", "--sessions", "5", "--plain")
    assert plain["sessions"] == 5
    chat = load(node, "chat", "--pairs", "3", "--seconds", "1", "--window", "4")
    assert chat["delivered_per_s"] > 0
    assert chat["lost"] == 0 and chat["duplicated"] == 0 and chat["bounced"] == 0
    assert chat["latency_max"] >= chat["latency_p99"] >= chat["latency_p50"] > 0
    # Both users of each pair send (make bench's `chat 1000 users`): every
    # message of both directions is counted, none lost.
    both = load(node, "chat", "--pairs", "3", "--seconds", "1", "--window", "1", "--both-ways")
    assert both["delivered_per_s"] > 0 and both["load_cpu_per_1000"] > 0
    assert both["lost"] == 0 and both["duplicated"] == 0 and both["bounced"] == 0
    bridges = load(node, "bridges", "--pairs", "4", "--bridges", "2", "--seconds", "1")
    assert bridges["delivered_per_s"] > 0
    assert bridges["lost"] == 0 and bridges["duplicated"] == 0


def test_wrong_password_is_a_clear_failure(node):
    node.add_user("bench0", "bench-password")
    result = subprocess.run(
        [LOAD, "setup", "--sessions", "1", "--password", "wrong", "--port",
         str(node.client_port), "--ca", node.certs["ca"]],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "authentication failed" in result.stderr


def test_failover_brings_the_leaders_clients_back(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    prepare(nodes)
    leader = leader_of(nodes)
    followers = [n for n in nodes if n is not leader]
    pids = [leader.proc.pid] + [p["pid"] for p in leader.status()["processes"] if p["pid"]]
    figures = load(followers[0], "failover", "--pairs", "2", "--rate", "20", "--seconds", "4",
                   "--kill-after", "1", "--sessions", "20", "--kill-pids",
                   ",".join(str(p) for p in pids),
                   ports=[leader.client_port, followers[0].client_port,
                          followers[1].client_port],
                   root=os.getpid())
    leader.proc.wait(timeout=10)
    assert figures["storm_back"] == figures["storm_clients"] == 20
    assert figures["relogin_all"] > 0
    assert figures["cut_off_survivors"] == 0
    assert figures["duplicated"] == 0


def test_stream_management_clients_enable_and_acknowledge(node):
    """--sm: every session enables stream management; in chat each side
    asks for acks and gives them, and nothing is left unacknowledged."""
    node.add_user("bench0", "bench-password")
    idle = load(node, "setup", "--sessions", "10", "--sm", accounts=1)
    assert idle["sessions"] == 10
    chat = load(node, "chat", "--pairs", "3", "--seconds", "1", "--window", "4", "--sm",
                "--sm-ack", "3", accounts=1)
    assert chat["delivered_per_s"] > 0
    assert chat["lost"] == 0 and chat["duplicated"] == 0 and chat["bounced"] == 0


def test_failover_sm_clients_resume_on_the_survivors(node_factory, certs):
    """Clients with stream management on a follower killed with SIGKILL
    all resume on the survivors at once, with numbered messages both ways:
    none lost, none twice.  200 of them: about 100 ask the other follower at
    once, more than it once let wait for the leader's answer (64; the
    others were refused and bound afresh, losing and repeating messages)."""
    nodes = form_cluster(node_factory, certs)
    # 425 sessions: under the 64 resources a user may have by default.
    prepare(nodes, accounts=10)
    leader = leader_of(nodes)
    killed, other = [n for n in nodes if n is not leader]
    pids = [killed.proc.pid] + [p["pid"] for p in killed.status()["processes"] if p["pid"]]
    figures = load(other, "failover", "--pairs", "2", "--rate", "20", "--seconds", "4",
                   "--kill-after", "2", "--sessions", "0", "--sm-clients", "200",
                   "--sm-interval", "500", "--relogin-concurrency", "200", "--kill-pids",
                   ",".join(str(p) for p in pids),
                   ports=[killed.client_port, leader.client_port, other.client_port],
                   root=os.getpid(), accounts=10, timeout=180)
    killed.proc.wait(timeout=10)
    assert figures["sm_resumed"] == figures["sm_clients"] == 200
    assert figures["sm_resume_failed"] == 0 and figures["sm_gave_up"] == 0
    assert figures["sm_sent"] > 0 and figures["sm_resume_all"] > 0
    assert figures["sm_lost_to_clients"] == 0 and figures["sm_lost_from_clients"] == 0
    assert figures["sm_duplicated"] == 0 and figures["sm_bounced"] == 0
    assert figures["sm_unacked_at_end"] == 0
    assert figures["cut_off_survivors"] == 0 and figures["lost"] == 0
