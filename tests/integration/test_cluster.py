# SPDX-License-Identifier: MIT
"""Three real nodes on loopback forming a cluster with mutual TLS:
initialize and join, status listing each member once, failover when the
leader node dies (kill -9 of all its processes), the leader's listener or a
follower's elector killed without an election, remove, a reset node joining
again without appearing twice, a node with an untrusted certificate
refused, and bad frames on peer links closing them with one warning."""

import json
import os
import shutil
import signal
import time

import pytest

from certs import make_server_certs
from rxmpp_node import free_port, process_alive, wait_until


def cluster_node(node_factory, certs, trust=None, extra="", ticket_key=None):
    port = free_port(span=2)  # the elector's peer port and the router's stanza port
    node = node_factory(extra=f"cluster:\n  enabled: true\n  port: {port}\n"
                              f"  trust_bundle: {trust or certs['ca']}\n"
                              "  peer_names: [test.example]\n" + extra)
    if ticket_key:
        text = open(node.config).read()
        node.write_config(text=text.replace("\ntls:\n", f"\ntls:\n  ticket_key: {ticket_key}\n"))
    node.cluster_port = port
    node.cluster_address = f"127.0.0.1:{port}"
    return node


def status(node):
    return json.loads(node.ctl("cluster", "status", "--json").stdout)


def status_when_answered(node):
    """The status, or None while the elector is restarting."""
    result = node.ctl("cluster", "status", "--json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def form_cluster(node_factory, certs, size=3, extra="", ticket_key=None):
    nodes = [cluster_node(node_factory, certs, extra=extra, ticket_key=ticket_key).start()
             for _ in range(size)]
    out = nodes[0].ctl("cluster", "initialize").stdout
    assert "initialized a one-node cluster" in out
    for node in nodes[1:]:
        result = node.ctl("cluster", "join", nodes[0].cluster_address)
        assert "joined" in result.stdout
    # Every node learns the whole membership from the leader's heartbeats.
    wait_until(lambda: all(len(status(n)["members"]) == size for n in nodes),
               what="every node to list every member")
    return nodes


def leader_of(nodes):
    for node in nodes:
        if node.proc.poll() is None and status(node)["state"] == "LEADER":
            return node
    return None


async def until_reachable(sender, receiver, to):
    """Sends probes until one reaches `receiver`: the leader knows both
    sessions then (a fixed sleep is a race on a loaded machine).  Late
    probes and the errors of early ones are left for is_probe to skip."""
    import asyncio

    for n in range(60):
        probe = sender.make_message(mto=to, mbody=f"probe{n}", mtype="chat")
        probe["id"] = f"probe{n}"
        probe.send()
        try:
            while True:
                got = await asyncio.wait_for(receiver.inbox.get(), 0.5)
                if got["body"].startswith("probe"):
                    return
        except asyncio.TimeoutError:
            continue
    raise AssertionError(f"no probe reached {to}")


def is_probe(message):
    """A probe of until_reachable, or the error that bounced one."""
    return message["body"].startswith("probe") or (
        message["type"] == "error" and message["id"].startswith("probe"))


async def next_real(client):
    """The next message that is not a probe."""
    while True:
        message = await client.next_message()
        if not is_probe(message):
            return message


def kill_node(node):
    """kill -9 of every process of a node, as a power cut would."""
    pids = [node.proc.pid] + [p["pid"] for p in node.status()["processes"] if p["pid"]]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    node.proc.wait(timeout=10)
    wait_until(lambda: not any(process_alive(pid) for pid in pids), what="the node to be gone")


def test_three_nodes_form_a_cluster(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    views = [status(n) for n in nodes]
    leader = views[0]["node"]
    assert views[0]["state"] == "LEADER"
    for view in views:
        ids = [m["node"] for m in view["members"]]
        assert sorted(ids) == sorted(v["node"] for v in views)  # each member once
        assert view["leader"] == leader
        assert [m["leader"] for m in view["members"]].count(True) == 1
    text = nodes[1].ctl("cluster", "status").stdout
    assert text.startswith("State: FOLLOWER\nTerm: ")
    assert "(Leader)" in text and nodes[0].cluster_address in text
    # The leader hears every follower's replies.
    assert all(m["heartbeat_ms"] is not None and m["heartbeat_ms"] < 5000
               for m in views[0]["members"])


def test_leader_node_killed_a_new_leader_takes_over(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    old = leader_of(nodes)
    term = status(old)["term"]
    killed_at = time.monotonic()
    kill_node(old)
    survivors = [n for n in nodes if n is not old]
    new = wait_until(lambda: leader_of(survivors), timeout=10, what="a new leader")
    took = time.monotonic() - killed_at
    print(f"new leader {took * 1000:.0f} ms after kill -9 of the leader node")
    assert status(new)["term"] > term
    assert all(status(n)["leader"] == status(new)["node"] for n in survivors)
    # The old leader comes back from its persisted state as a follower.
    old.start()
    wait_until(lambda: status(old)["leader"] == status(new)["node"], what="the old leader to follow")
    assert status(old)["state"] == "FOLLOWER"
    assert len(status(old)["members"]) == 3


def test_leader_listener_killed_same_leader_same_term(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    before = status(leader)
    listener = leader.children()["listener"]["pid"]
    os.kill(listener, signal.SIGKILL)
    leader.wait_child_back("listener", listener)
    time.sleep(1.5)  # more than an election timeout
    after = status(leader)
    assert after["state"] == "LEADER"
    assert after["term"] == before["term"]
    assert leader.children()["elector"]["generation"] == 1


def test_follower_elector_killed_keeps_term_and_vote(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    follower = next(n for n in nodes if n is not leader)
    with open(os.path.join(follower.dir, "state", "election")) as f:
        persisted = f.read()
    term = status(follower)["term"]
    elector = follower.children()["elector"]["pid"]
    os.kill(elector, signal.SIGKILL)
    follower.wait_child_back("elector", elector)
    wait_until(lambda: status(follower)["leader"] == status(leader)["node"],
               what="the restarted elector to follow the leader")
    assert status(follower)["term"] == term
    assert status(leader)["state"] == "LEADER" and status(leader)["term"] == term
    with open(os.path.join(follower.dir, "state", "election")) as f:
        assert f.read() == persisted  # same term, same vote, same membership


def test_remove_a_member(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    follower = next(n for n in nodes if n is not leader)
    other = next(n for n in nodes if n is not leader and n is not follower)
    follower_id = int(status(follower)["node"], 16)
    leader.wait_log(r"stanza link from node %016x up" % follower_id)
    mark = leader.log_mark()
    # Asked on a follower, done by the leader.
    result = other.ctl("cluster", "remove", follower.cluster_address)
    assert "removed" in result.stdout
    wait_until(lambda: len(status(leader)["members"]) == 2, what="the membership to shrink")
    assert follower.cluster_address not in [m["address"] for m in status(other)["members"]]
    # A node that is no member holds no stanza link to the leader's router.
    leader.wait_log(r"stanza link .* claims to be node %016x: that node is not a member "
                    r"of the cluster; closing it" % follower_id, start=mark)


def test_reset_node_joins_again_without_appearing_twice(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    third = next(n for n in nodes if n is not leader and n is not nodes[0])
    old_id = status(third)["node"]
    refused = third.ctl("reset", "--yes", check=False)
    assert refused.returncode == 1 and "rxmppd is running" in refused.stderr
    assert third.stop() == 0
    refused = third.ctl("reset", "--yes", check=False)
    assert refused.returncode == 1 and "member of a cluster of 3 nodes" in refused.stderr
    assert "removed" in third.ctl("reset", "--yes", "--force").stdout
    third.start()
    new_id = status(third)["node"]
    assert new_id != old_id
    result = third.ctl("cluster", "join", leader.cluster_address)
    assert "joined" in result.stdout
    wait_until(lambda: len(status(third)["members"]) == 3, what="the rejoined node to see all")
    for node in nodes:
        members = status(node)["members"]
        addresses = [m["address"] for m in members]
        assert len(addresses) == len(set(addresses)) == 3  # no address twice
        assert old_id not in [m["node"] for m in members]
    leader.wait_log(rf"replacing member {old_id} at {third.cluster_address}")


def test_untrusted_node_cannot_join(node_factory, certs, tmp_path):
    nodes = form_cluster(node_factory, certs, size=1)
    stranger_certs = make_server_certs(tmp_path / "stranger")
    stranger = cluster_node(node_factory, stranger_certs, trust=certs["ca"])
    stranger.certs = stranger_certs
    with open(stranger.config) as f:
        text = f.read()
    stranger.write_config(text=text.replace(certs["key"], stranger_certs["key"])
                          .replace(certs["cert"], stranger_certs["cert"]))
    stranger.start()
    result = stranger.ctl("cluster", "join", nodes[0].cluster_address, check=False)
    assert result.returncode == 1
    assert "refused the link" in result.stderr
    nodes[0].wait_log(r"cluster link \[127\.0\.0\.1\]:\d+: TLS: .*(certificate|unknown ca)")
    assert len(status(nodes[0])["members"]) == 1


def test_cluster_verbs_when_disabled(node):
    out = node.ctl("cluster", "status").stdout
    assert "DISABLED" in out
    result = node.ctl("cluster", "initialize", check=False)
    assert result.returncode == 1
    assert "the cluster is disabled" in result.stderr


BRIDGE_SECRET = "cluster-bridge-secret"


def holds_cluster_state(node):
    """The node's elector materialised the cluster's replicated state
    (issue 15): accounts and bridges are the cluster's, changed once."""
    return os.path.exists(os.path.join(node.dir, "state", "cluster-callbridges"))


def add_users(nodes, users):
    """users: name -> password, on every node of `nodes`: once, through the
    cluster, when it holds its state; else on each node (per node)."""
    for node in nodes[:1] if holds_cluster_state(nodes[0]) else nodes:
        for name, password in users.items():
            node.add_user(name, password)


def add_bridges(nodes, bridges):
    """bridges: name -> secret, on every node of `nodes` (as add_users)."""
    if holds_cluster_state(nodes[0]):
        for name, secret in bridges.items():
            result = nodes[0].ctl_input(["callbridge", "add-secret", name, "--stdin"],
                                        secret + "\n")
            assert result.returncode == 0, result.stderr
        return
    for node in nodes:
        node.write_bridges(bridges)
        if node.proc is not None and node.proc.poll() is None:
            node.ctl("reload")


def with_accounts(nodes):
    add_users(nodes, {"alice": "alice-pw", "bob": "bob-pw"})
    add_bridges(nodes, {"cb1": BRIDGE_SECRET})


def cluster_with_accounts(node_factory, certs):
    """Three nodes with alice, bob and cb1 on each: the leader and the two
    followers."""
    nodes = form_cluster(node_factory, certs)
    with_accounts(nodes)
    leader = leader_of(nodes)
    one, two = [n for n in nodes if n is not leader]
    return leader, one, two


def test_clients_on_two_nodes_and_a_bridge_on_a_third(node_factory, certs):
    import asyncio

    from xmpp import connect_bridge, login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a")
        bob = await login(two, "bob", "bob-pw", resource="b")
        bridge = await connect_bridge(leader, "cb1", BRIDGE_SECRET)
        bridge.register_plugin("xep_0199")
        await until_reachable(alice, bob, "bob@test.example/b")
        await until_reachable(bob, alice, "alice@test.example/a")
        alice.send_message(mto="bob@test.example/b", mbody="hello across nodes", mtype="chat")
        assert (await next_real(bob))["body"] == "hello across nodes"
        bob.send_message(mto="alice@test.example", mbody="to your bare JID", mtype="chat")
        message = await next_real(alice)
        assert message["body"] == "to your bare JID"
        assert str(message["from"]) == "bob@test.example/b"
        await alice["xep_0199"].ping("bob@test.example/b", timeout=10)
        alice.send_message(mto="cb1.test.example", mbody="join 42", mtype="chat")
        assert (await asyncio.wait_for(bridge.inbox.get(), 15))["body"] == "join 42"
        for client in (alice, bob):
            bridge.send_message(mto=client.boundjid.full, mfrom="conf@cb1.test.example",
                                mbody="welcome", mtype="chat")
            assert (await next_real(client))["body"] == "welcome"
        await bridge["xep_0199"].ping("bob@test.example/b", timeout=10, ifrom="cb1.test.example")
        for peer in (alice, bob, bridge):
            await peer.close()

    run(scenario())


def test_numbered_messages_through_a_failover_arrive_once_and_in_order(node_factory, certs):
    import asyncio

    from xmpp import login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)
    count = 300

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a")
        bob = await login(two, "bob", "bob-pw", resource="b")
        await until_reachable(alice, bob, "bob@test.example/b")
        await until_reachable(bob, alice, "alice@test.example/a")
        arrivals = {"alice": [], "bob": []}

        async def collect(client, name):
            while len(arrivals[name]) < count:
                message = await client.next_message(timeout=30)
                if not is_probe(message):
                    arrivals[name].append((time.monotonic(), message["body"]))

        collectors = [asyncio.ensure_future(collect(alice, "alice")),
                      asyncio.ensure_future(collect(bob, "bob"))]
        killed = False
        for n in range(count):
            alice.send_message(mto="bob@test.example/b", mbody=f"a{n}", mtype="chat")
            bob.send_message(mto="alice@test.example/a", mbody=f"b{n}", mtype="chat")
            await asyncio.sleep(0.01)
            if n == count // 3 and not killed:
                await asyncio.get_event_loop().run_in_executor(None, kill_node, leader)
                killed = True
        await asyncio.wait_for(asyncio.gather(*collectors), 60)
        # Nothing more comes: no duplicate is on its way.
        await asyncio.sleep(1.0)
        for client in (alice, bob):
            while not client.inbox.empty():
                assert is_probe(client.inbox.get_nowait())
        for name, prefix in (("bob", "a"), ("alice", "b")):
            bodies = [body for _, body in arrivals[name]]
            assert bodies == [f"{prefix}{n}" for n in range(count)], bodies[:20]
            times = [t for t, _ in arrivals[name]]
            gap = max(b - a for a, b in zip(times, times[1:]))
            print(f"{name}: {count} messages in order, none lost or twice; longest gap "
                  f"{gap * 1000:.0f} ms")
        await alice.close()
        await bob.close()

    run(scenario(), timeout=180)
    survivors = [one, two]
    new = wait_until(lambda: leader_of(survivors), what="a new leader")
    assert new is not None


def test_enable_trust_and_disable_with_rxmppctl(node_factory, certs, tmp_path):
    port = free_port(span=2)
    trust_path = tmp_path / "installed-trust.pem"
    node = node_factory(extra=f"# cluster settings, kept by rxmppctl edits\ncluster:\n"
                              f"  enabled: false  # not yet\n  port: {port}\n"
                              f"  trust_bundle: {trust_path}\n")
    node.start()
    assert status(node)["enabled"] is False
    out = node.ctl("cluster", "trust", certs["ca"]).stdout
    assert "certificate 1: /CN=rxmpp test CA" in out
    assert trust_path.read_bytes() == open(certs["ca"], "rb").read()
    before = node.children()
    node.ctl("cluster", "enable")
    # Only the elector and the router start again, with the cluster on.
    node.wait_child_back("elector", before["elector"]["pid"])
    node.wait_child_back("router", before["router"]["pid"])
    assert node.children()["listener"]["pid"] == before["listener"]["pid"]
    wait_until(lambda: (status_when_answered(node) or {}).get("enabled"),
               what="the cluster to be enabled")
    assert "initialized" in node.ctl("cluster", "initialize").stdout
    assert status(node)["state"] == "LEADER"
    text = open(node.config).read()
    assert "# cluster settings, kept by rxmppctl edits\n" in text
    assert "  enabled: true  # not yet\n" in text
    node.ctl("cluster", "disable")
    wait_until(lambda: (status_when_answered(node) or {"enabled": True})["enabled"] is False,
               what="the cluster to be disabled")
    bad = node.ctl("cluster", "trust", node.config, check=False)
    assert bad.returncode == 1 and "holds no PEM certificate" in bad.stderr


def test_member_cut_off_shows_pre_candidate(node_factory, certs):
    """A member left without a majority asks for pre-votes that never come:
    rxmppctl shows PRE-CANDIDATE (the elector's own name for it, as its log
    says), not CANDIDATE, and its term does not move."""
    nodes = form_cluster(node_factory, certs, size=2)
    leader = leader_of(nodes)
    alone = next(n for n in nodes if n is not leader)
    term = status(alone)["term"]
    mark = alone.log_mark()
    kill_node(leader)
    wait_until(lambda: status(alone)["state"] == "PRE-CANDIDATE", what="a pre-vote campaign")
    assert status(alone)["term"] == term
    assert alone.ctl("cluster", "status").stdout.startswith("State: PRE-CANDIDATE\nTerm: ")
    alone.wait_log(rf"elector\[\d+\]: PRE-CANDIDATE in term {term}", start=mark,
                   what="the elector's log line")


PEERLINK_VERSION = 4  # common/peerlink.h
PEERLINK_VERSION_MIN = 3


def peer_link(port, certs, kind, node_id, versions=(PEERLINK_VERSION_MIN, PEERLINK_VERSION_MIN),
              answered=True):
    """A peer link by hand: mutual TLS with a certificate the node trusts,
    then the hello (common/peerlink.h: the highest and lowest protocol
    versions spoken, the kind, the node id, the address) each way."""
    import socket
    import ssl
    import struct

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(certs["cert"], certs["key"])
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
    highest, lowest = versions
    hello = struct.pack("<HHIQ", highest, lowest, kind, node_id) + bytes(128)
    sock.sendall(struct.pack("<HHIQ", 1, 0, 16 + len(hello), 0) + hello)
    if not answered:
        return sock
    got = b""
    while len(got) < 16 + len(hello):
        chunk = sock.recv(4096)
        assert chunk, "the node closed the link before its hello"
        got += chunk
    return sock


def closed_by_peer(sock):
    import ssl

    try:
        while sock.recv(4096):
            pass
    except (ssl.SSLError, ConnectionResetError):
        pass
    return True


def test_a_peer_of_an_older_protocol_is_refused_naming_both_versions(node_factory, certs):
    """rxmpp 0.1.0's hello (a 32-bit version 1, no lowest version) on both
    kinds of link: refused, with one warning naming both ranges and what to
    do; a hello of this node's version on the same links is taken."""
    node = cluster_node(node_factory, certs).start()
    node.ctl("cluster", "initialize")
    member = int(status(node)["node"], 16)
    for port, kind, what in ((node.cluster_port, 0x454C4543, "cluster link"),
                             (node.cluster_port + 1, 0x524F5554, "cluster link")):
        mark = node.log_mark()
        sock = peer_link(port, certs, kind, member, versions=(1, 0), answered=False)
        assert closed_by_peer(sock)
        node.wait_log(rf"{what} .*it speaks protocol versions 1 to 1, this node \(rxmpp "
                      rf"[0-9.]+\) {PEERLINK_VERSION_MIN} to {PEERLINK_VERSION}: upgrade that node",
                      start=mark)
        sock.close()
        sock = peer_link(port, certs, kind, member)
        sock.close()
    assert status(node)["state"] == "LEADER"


def test_a_node_of_protocol_3_is_refused_at_join_once_the_log_holds_commands(node_factory,
                                                                             certs):
    """cluster initialize writes the cluster's first command (the node's
    settings): from then on the cluster never goes back to protocol 3, so a
    node that speaks only 3 (rxmpp 0.2.0) asking to join is refused, with
    what to do, and the membership is unchanged."""
    import struct

    node = cluster_node(node_factory, certs).start()
    node.ctl("cluster", "initialize")
    joiner = 0x0123456789ABCDEF
    sock = peer_link(node.cluster_port, certs, 0x454C4543, joiner)
    change = struct.pack("<IIQ", 0, 0, joiner) + b"127.0.0.1:9".ljust(128, b"\0")
    sock.sendall(struct.pack("<HHIQ", 3, 0, 16 + len(change), 0) + change)  # WIRE_CHANGE, JOIN
    got = b""
    while len(got) < 16 + 264:
        chunk = sock.recv(4096)
        assert chunk, "the node closed the link before it answered"
        got += chunk
    sock.close()
    kind, = struct.unpack_from("<H", got, 0)
    status_code, = struct.unpack_from("<I", got, 16)
    text = got[16 + 8 + 128:16 + 264].split(b"\0")[0].decode()
    assert (kind, status_code) == (4, 3), (kind, status_code, text)  # CHANGE_REPLY, REFUSED
    assert "needs protocol 4; this node speaks 3 (rxmpp 0.2.0): upgrade it" in text, text
    assert len(status(node)["members"]) == 1


def test_every_member_s_protocol_versions_are_known_to_the_leader(node_factory, certs):
    """The leader knows which protocol versions each member speaks (the
    hellos of its links) and so the version every member speaks, which
    features that need every member go by."""
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    wait_until(lambda: status(leader)["protocol"] == PEERLINK_VERSION,
               what="the leader to know every member's protocol")
    for member in status(leader)["members"]:
        assert member["protocol_versions"] == [PEERLINK_VERSION_MIN, PEERLINK_VERSION], member
    text = leader.ctl("cluster", "status").stdout
    assert f"Protocol: {PEERLINK_VERSION} (every member speaks it)\n" in text
    assert text.count(f"speaks protocol versions {PEERLINK_VERSION_MIN} to "
                      f"{PEERLINK_VERSION}\n") == 3


def test_bad_frames_on_peer_links_close_them_with_one_warning(node_factory, certs):
    import struct

    node = cluster_node(node_factory, certs).start()
    node.ctl("cluster", "initialize")
    # Only members hold stanza links: speak as the node itself, whose
    # certificate the test has.
    member = int(status(node)["node"], 16)
    cases = [  # the router's stanza port, then the elector's port
        (node.cluster_port + 1, 0x524F5554, 9, r"stanza link .*a frame of the wrong size; closing it"),
        (node.cluster_port, 0x454C4543, 2,
         r"cluster link .*an election message of the wrong size; closing it"),
    ]
    for port, kind, frame_type, warning in cases:
        sock = peer_link(port, certs, kind, member)
        mark = node.log_mark()
        sock.sendall(struct.pack("<HHIQ", frame_type, 0, 16 + 3, 0) + b"abc")
        assert closed_by_peer(sock)
        node.wait_log(warning, start=mark)
        time.sleep(0.3)
        with node.lock:
            lines = node.lines[mark:]
        assert sum("closing it" in line for line in lines) == 1, lines
        sock.close()
    # The node is none the worse for it.
    assert status(node)["state"] == "LEADER"
