# SPDX-License-Identifier: MIT
"""The upgrade test (make upgrade-test; README "Upgrades and compatibility").

It builds the previous release recorded in CHANGELOG.md from its commit (a
detached `git worktree` of this checkout in a temporary folder, `make all`
there: the programs only, no network), runs a three-node cluster of it
with accounts, call bridges and numbered traffic, and upgrades it to this
build along the path that release allows, which CHANGELOG.md records:

* offline (a release before the compatibility rule, 0.1.0): every node
  stopped, the programs swapped, every node started; the accounts, call
  bridges, node ids and membership are intact and the old state files are
  rewritten in their sealed formats;
* rolling (a release with the rule): one node at a time, followers first,
  with numbered traffic flowing; always a leader, nothing lost.

The release before the previous one, when one is recorded, is upgraded
offline too (skipping a release is offline by the rule).

Run with the integration tests' helpers (tests/integration/)."""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from certs import make_server_certs  # noqa: E402
from rxmpp_node import BIN, Node, free_port, wait_until  # noqa: E402
from summary import pytest_terminal_summary  # noqa: E402,F401
from xmpp import connect_bridge, login, run  # noqa: E402

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
BRIDGES = {"cb1": "bridge-one-secret", "cb2": "bridge-two-secret"}
NUMBERED = 30  # messages each way of a traffic round


def releases():
    """CHANGELOG.md's entries, newest first: version, commit (a hash, or
    "this commit" for the release being cut) and how a cluster of it is
    upgraded to the next release (rolling under the compatibility rule,
    offline before it)."""
    with open(os.path.join(ROOT, "CHANGELOG.md")) as f:
        text = f.read()
    found = []
    for m in re.finditer(r"^## (\d+\.\d+\.\d+)\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        body = m.group(2)
        commit = re.search(r"^Commit: (.+)$", body, re.M).group(1).strip()
        upgrade = re.search(r"^Upgrade to the next release: (rolling|offline)", body, re.M)
        found.append({"version": m.group(1), "commit": commit, "next": upgrade.group(1)})
    return found


def recorded_before_this_checkout():
    """The releases recorded with a commit other than this checkout's (a
    release being cut says "this commit"), newest first."""
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()
    return [r for r in releases()
            if re.fullmatch(r"[0-9a-f]{7,40}", r["commit"]) and not head.startswith(r["commit"])]


# The previous release, along the path it records; and the one before it,
# offline, as an upgrade across more than one release is by the rule.
@pytest.fixture(scope="module", params=[0, 1], ids=["previous", "before-previous"])
def old_build(request):
    """A recorded release's programs, built from its commit."""
    older = recorded_before_this_checkout()
    if request.param >= len(older):
        if request.param == 0:
            pytest.fail("CHANGELOG.md records no release before this checkout")
        pytest.skip("CHANGELOG.md records only one release before this checkout")
    release = dict(older[request.param])
    if request.param > 0:
        release["next"] = "offline"
    top = tempfile.mkdtemp(prefix="rxmpp-upgrade-")
    tree = os.path.join(top, "tree")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, release["commit"]],
                   check=True, capture_output=True, timeout=120)
    try:
        # `all` is the programs only (a release's Makefile installs nothing
        # for it); -j2: the machines that run this are small.
        built = subprocess.run(["make", "-C", tree, "-j2", "BUILD=" + os.path.join(top, "build"),
                                "all"], capture_output=True, text=True, timeout=900)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        yield release, os.path.join(top, "build", "bin")
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree],
                       capture_output=True, timeout=120)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def certs(tmp_path):
    return make_server_certs(tmp_path / "certs")


def status(node):
    return json.loads(node.ctl("cluster", "status", "--json").stdout)


def leader_of(nodes):
    def one_leader():
        leaders = [n for n in nodes if status(n)["state"] == "LEADER"]
        return leaders[0] if len(leaders) == 1 else None
    return wait_until(one_leader, timeout=20, what="one leader")


def config_text(node, certs, legacy):
    """A release before the compatibility rule (0.1.0) knows neither `user`
    nor `cluster.peer_names` (its parser refuses unknown keys).  Later ones
    run, in a test as root, as root, and a trust bundle that holds a CA
    needs the names that may join: the offline upgrade's one edit."""
    text = (f"domain: test.example\n"
            f"log_level: debug\n"
            f"state_directory: state\n"
            f"control_socket: control.sock\n"
            f"callbridges_file: callbridges.yaml\n"
            f"listen:\n"
            f"  addresses: [127.0.0.1]\n"
            f"  client_port: {node.client_port}\n"
            f"  component_port: {node.component_port}\n"
            f"tls:\n"
            f"  key: {certs['key']}\n"
            f"  certificate: {certs['cert']}\n"
            f"cluster:\n"
            f"  enabled: true\n"
            f"  port: {node.cluster_port}\n"
            f"  trust_bundle: {certs['ca']}\n")
    if not legacy:
        text = "user: root\n" + text + "  peer_names: [test.example]\n"
    return text


def start_cluster(tmp_path, certs, bin_dir, legacy):
    nodes = []
    for i in range(3):
        directory = tmp_path / f"node{i}"
        directory.mkdir()
        node = Node(directory, certs, bin_dir=bin_dir)
        node.cluster_port = free_port(span=2)
        node.cluster_address = f"127.0.0.1:{node.cluster_port}"
        node.write_config(text=config_text(node, certs, legacy))
        nodes.append(node)
    for node in nodes:
        node.start()
    nodes[0].ctl("cluster", "initialize")
    for node in nodes[1:]:
        node.ctl("cluster", "join", nodes[0].cluster_address)
    wait_until(lambda: all(len(status(n)["members"]) == 3 for n in nodes), timeout=20,
               what="every node to list every member")
    for node in nodes:
        for user, password in USERS.items():
            node.add_user(user, password)
        node.write_bridges(BRIDGES)
        node.ctl("reload")
    return nodes


async def next_body(client, timeout=15):
    while True:
        message = await asyncio.wait_for(client.inbox.get(), timeout)
        if message["body"]:
            return message["body"]


async def reachable(sender, receiver, jid):
    """A ping answered end to end: the leader routes for the cluster."""
    for _ in range(100):
        try:
            await sender["xep_0199"].ping(jid, timeout=2)
            return
        except Exception:  # noqa: BLE001 - an error answer or a timeout: not yet
            await asyncio.sleep(0.2)
    raise AssertionError(f"{jid} not reachable from {sender.boundjid}")


def traffic_round(nodes, tag):
    """Every account logs in on every node; numbered messages from alice on
    one follower to bob on the other (through the leader) and to bob's bare
    JID back, and to and from both bridges on the third node: all arrive,
    once, in order."""
    leader = leader_of(nodes)
    one, two = [n for n in nodes if n is not leader]

    async def scenario():
        for node in nodes:
            for user, password in USERS.items():
                client = await login(node, user, password, resource="check")
                await client.close()
        alice = await login(one, "alice", USERS["alice"], resource="a")
        bob = await login(two, "bob", USERS["bob"], resource="b")
        bridges = {name: await connect_bridge(leader, name, secret)
                   for name, secret in BRIDGES.items()}
        for peer in (alice, bob):
            peer.register_plugin("xep_0199")
        await reachable(alice, bob, "bob@test.example/b")
        for i in range(1, NUMBERED + 1):
            alice.send_message(mto="bob@test.example/b", mbody=f"{tag} {i}", mtype="chat")
            bob.send_message(mto="alice@test.example", mbody=f"{tag} back {i}", mtype="chat")
        assert [await next_body(bob) for _ in range(NUMBERED)] == \
            [f"{tag} {i}" for i in range(1, NUMBERED + 1)]
        assert [await next_body(alice) for _ in range(NUMBERED)] == \
            [f"{tag} back {i}" for i in range(1, NUMBERED + 1)]
        for name, bridge in bridges.items():
            alice.send_message(mto=f"{name}.test.example", mbody=f"{tag} to {name}", mtype="chat")
            got = await asyncio.wait_for(bridge.inbox.get(), 15)
            assert got["body"] == f"{tag} to {name}"
            bridge.send_message(mto="bob@test.example/b", mfrom=f"conf@{name}.test.example",
                                mbody=f"{tag} from {name}", mtype="chat")
            assert await next_body(bob) == f"{tag} from {name}"
        for peer in (alice, bob, *bridges.values()):
            await peer.close()

    run(scenario(), timeout=180)


def membership(node):
    return sorted((m["node"], m["address"]) for m in status(node)["members"])


def state_heads(node):
    heads = {}
    for name in ("node-id", "election", "accounts"):
        with open(os.path.join(node.dir, "state", name)) as f:
            heads[name] = f.readline().strip()
    return heads


def upgrade_offline(nodes, certs):
    """README: stop every node, install the new version on all, start them."""
    for node in nodes:
        assert node.stop() == 0
    for node in nodes:
        node.bin = BIN
        node.write_config(text=config_text(node, certs, False))
    marks = [node.log_mark() for node in nodes]
    for node in nodes:
        node.start()
    return marks


def check_held_back(nodes, old):
    """The old leader is down and the upgraded nodes elect one of theirs:
    the log holds no command yet, so the cluster keeps to the previous
    protocol, and a write (cluster merge) is refused naming that member
    (not heard since the elector started, or of protocol 3); nothing of
    the node is merged."""
    up = [n for n in nodes if n is not old]
    new = wait_until(lambda: next((n for n in up if status(n)["state"] == "LEADER"), None),
                     timeout=20, what="a leader among the upgraded nodes")
    result = new.ctl("cluster", "merge", check=False)
    assert "nothing changed" in result.stderr, result.stdout + result.stderr
    assert old.cluster_address in result.stderr, result.stderr
    print(f"with the old leader down: {result.stderr.splitlines()[0]}")


def upgrade_rolling(nodes, certs, without_log):
    """README: one node at a time, followers first, the leader last, each
    back in the cluster before the next goes; meanwhile clients on the two
    other nodes and a bridge exchange numbered messages, every one of which
    arrives once and in order, and there is always a leader again.  From a
    release `without_log`, a write while the old leader is down is refused
    naming it (check_held_back)."""
    ids = [status(n)["node"] for n in nodes]
    members = membership(nodes[0])
    leader = leader_of(nodes)
    order = [n for n in nodes if n is not leader] + [leader]
    for step, node in enumerate(order):
        one, two = [n for n in nodes if n is not node]

        def swap(node=node):
            assert node.stop() == 0
            if node is leader and without_log:
                check_held_back(nodes, node)
            node.bin = BIN
            node.write_config(text=config_text(node, certs, False))
            node.start()
            wait_until(lambda: membership(node) == members, timeout=20,
                       what="the upgraded node to list every member")

        async def scenario(one=one, two=two, step=step, node=node):
            alice = await login(one, "alice", USERS["alice"], resource=f"r{step}")
            bob = await login(two, "bob", USERS["bob"], resource=f"r{step}")
            bridge = await connect_bridge(one, "cb1", BRIDGES["cb1"])
            for peer in (alice, bob):
                peer.register_plugin("xep_0199")
            await reachable(alice, bob, f"bob@test.example/r{step}")
            swapping = asyncio.get_event_loop().run_in_executor(None, swap)
            sent = 0
            while not swapping.done() or sent < NUMBERED:
                sent += 1
                alice.send_message(mto=f"bob@test.example/r{step}", mbody=f"{step} {sent}",
                                   mtype="chat")
                bob.send_message(mto="cb1.test.example", mbody=f"{step} {sent}", mtype="chat")
                await asyncio.sleep(0.05)
                assert sent < 2000, "the upgraded node took too long"
            await swapping
            wanted = [f"{step} {i}" for i in range(1, sent + 1)]
            assert [await next_body(bob, 30) for _ in range(sent)] == wanted
            got = [(await asyncio.wait_for(bridge.inbox.get(), 30))["body"]
                   for _ in range(sent)]
            assert got == wanted
            print(f"upgraded {os.path.basename(node.dir)} ({'leader' if node is leader else 'follower'}):"
                  f" {sent} numbered messages to a client and to a bridge meanwhile, all there")
            for peer in (alice, bob, bridge):
                await peer.close()

        run(scenario(), timeout=240)
        leader_of(nodes)
    assert [status(n)["node"] for n in nodes] == ids


def check_offline_upgrade(nodes, certs, legacy):
    ids = [status(n)["node"] for n in nodes]
    members = membership(nodes[0])
    term = max(status(n)["term"] for n in nodes)
    marks = upgrade_offline(nodes, certs)
    # Same nodes, same membership, a leader, terms that never go back.
    assert [status(n)["node"] for n in nodes] == ids
    wait_until(lambda: all(membership(n) == members for n in nodes), timeout=20,
               what="the membership of before on every node")
    leader = leader_of(nodes)
    assert min(status(n)["term"] for n in nodes) >= term
    if not legacy:
        return
    # 0.1.0's state files, read and rewritten sealed, saying so.
    for node, mark in zip(nodes, marks):
        heads = state_heads(node)
        assert heads == {"node-id": "rxmpp-node-id 1", "election": "rxmpp-election 3",
                         "accounts": "rxmpp-accounts 1"}, heads
        node.wait_log(r"accounts .*rewrote it sealed", start=mark)
        node.wait_log(r"election.*rewrote it sealed", start=mark)
    # The members, whose old files knew no certificates, are bound to the
    # ones they speak with.
    for node_id in ids:
        if node_id != status(leader)["node"]:
            leader.wait_log(rf"member {node_id} at \S+ bound to its certificate", timeout=20)


def upgrade_and_check(release, old_bin, certs, tmp_path):
    # 0.1.0, before the rule: other configuration keys, unsealed files.
    legacy = release["version"] == "0.1.0"
    nodes = start_cluster(tmp_path, certs, old_bin, legacy)
    try:
        traffic_round(nodes, "before")
        bridges_files = []
        for node in nodes:
            with open(os.path.join(node.dir, "callbridges.yaml")) as f:
                bridges_files.append(f.read())
        if release["next"] == "offline":
            check_offline_upgrade(nodes, certs, legacy)
        else:
            # 0.2.0 has no replicated log: until every member speaks
            # protocol 4 the cluster keeps to 3.
            upgrade_rolling(nodes, certs, release["version"] == "0.2.0")
        for node, text in zip(nodes, bridges_files):
            with open(os.path.join(node.dir, "callbridges.yaml")) as f:
                assert f.read() == text
        # Every member speaks this build's protocol: the leader knows it.
        leader = leader_of(nodes)
        wait_until(lambda: status(leader)["protocol"] is not None, timeout=20,
                   what="the leader to know every member's protocol")
        assert all(m["protocol_versions"] for m in status(leader)["members"])
        # Every account on every node, both bridges, numbered traffic.
        traffic_round(nodes, "after")
        for node in nodes:
            assert node.stop() == 0
    finally:
        for node in nodes:
            node.cleanup()


def test_upgrade_from_a_recorded_release(old_build, certs, tmp_path):
    """The previous release along the path CHANGELOG.md records for it; the
    one before it offline."""
    release, old_bin = old_build
    upgrade_and_check(release, old_bin, certs, tmp_path)
