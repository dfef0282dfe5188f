# SPDX-License-Identifier: MIT
"""The cluster's replicated state (issue 15): accounts and call bridges are
one state for the whole cluster, changed from any node through the
elector's log and applied on every node before the command returns.

What a node does with that state once its elector materialised it (the
sealed state_directory/cluster-callbridges) is tested here on one node:
it serves the cluster's bridges rather than its own file, and the commands
refuse to write behind a stopped node's back.  The end-to-end tests on
three real nodes (a user added on one node logs in on the others, a
password changed on one is refused with the old one everywhere, a bridge
added on one connects to another, add-secret identical or different, no
quorum, kill -9 of the leader during writes, writes on both sides of a
real partition in network namespaces) go through the write path of the
elector (PROTO_PROPOSE committed and applied)."""

import hashlib
import json
import os
import re
import threading

import pytest

from rxmpp_node import wait_until
from test_cluster import cluster_node, form_cluster, kill_node, leader_of, status

BRIDGE_STATE = "cluster-callbridges"


def write_cluster_bridges(node, bridges):
    """The sealed file the elector writes (common/callbridge.h): bridges is
    name -> secret, the address name.test.example."""
    import base64

    body = "# the cluster's call bridges\n" + "".join(
        f"{name} {name}.test.example {base64.b64encode(secret.encode()).decode()}\n"
        for name, secret in sorted(bridges.items()))
    text = f"rxmpp-{BRIDGE_STATE} 1\n" + body
    text += "sha256 " + hashlib.sha256(text.encode()).hexdigest() + "\n"
    path = os.path.join(node.dir, "state", BRIDGE_STATE)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o640)


def test_a_node_that_holds_the_cluster_state_serves_the_cluster_bridges(node_factory, certs):
    from xmpp import connect_bridge, run

    node = cluster_node(node_factory, certs)
    node.write_bridges({"cb1": "the-file-secret-1"})
    write_cluster_bridges(node, {"cb1": "the-cluster-secret-1", "cb2": "second-cluster-1"})
    node.start()
    listed = node.ctl("callbridge", "list").stdout
    assert "the-cluster-secret-1" in listed and "cb2.test.example" in listed
    assert "the-file-secret-1" not in listed

    async def bridges():
        peer = await connect_bridge(node, "cb1", "the-cluster-secret-1")
        await peer.close()
        with pytest.raises(ConnectionError):
            await connect_bridge(node, "cb1", "the-file-secret-1")

    run(bridges())
    # The administrator's file is left as it was.
    with open(os.path.join(node.dir, "callbridges.yaml")) as f:
        assert "the-file-secret-1" in f.read()


def test_a_damaged_cluster_bridges_file_stops_the_node(node_factory, certs):
    node = cluster_node(node_factory, certs)
    write_cluster_bridges(node, {"cb1": "the-cluster-secret-1"})
    path = os.path.join(node.dir, "state", BRIDGE_STATE)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("cb1 cb1", "cb1 cb9"))
    node.start(wait_ready=False)
    assert node.proc.wait(timeout=30) == 78
    node.wait_log(re.escape(path) + r".*(checksum|sha256)")


def test_without_a_cluster_the_node_keeps_its_own_bridges(node_factory, certs):
    """cluster.enabled false: a cluster file left behind is not read."""
    from xmpp import connect_bridge, run

    node = node_factory()
    node.write_bridges({"cb1": "the-file-secret-1"})
    write_cluster_bridges(node, {"cb1": "the-cluster-secret-1"})
    node.start()

    async def bridge():
        peer = await connect_bridge(node, "cb1", "the-file-secret-1")
        await peer.close()

    run(bridge())
    assert "added" in node.ctl("callbridge", "add", "cb3").stdout
    with open(os.path.join(node.dir, "callbridges.yaml")) as f:
        assert "cb3" in f.read()


def test_a_stopped_node_of_the_cluster_refuses_changes(node_factory, certs):
    node = cluster_node(node_factory, certs)
    node.add_user("alice", "alice-pw")
    write_cluster_bridges(node, {"cb1": "the-cluster-secret-1"})
    accounts = os.path.join(node.dir, "state", "accounts")
    with open(accounts) as f:
        before = f.read()
    for args, text in ((["user", "add", "bob", "--stdin"], "bob-pw\n"),
                       (["user", "del", "alice"], ""),
                       (["callbridge", "add", "cb2"], ""),
                       (["callbridge", "add-secret", "cb1", "--stdin"], "other-secret-1\n")):
        result = node.ctl_input(args, text)
        assert result.returncode == 1, args
        assert "through the running cluster" in result.stderr and "nothing changed" in result.stderr
    with open(accounts) as f:
        assert f.read() == before
    assert "alice" in node.ctl("user", "list").stdout


def test_reset_forgets_the_copy_of_the_cluster_state(node_factory, certs):
    node = cluster_node(node_factory, certs)
    node.add_user("alice", "alice-pw")
    write_cluster_bridges(node, {"cb1": "the-cluster-secret-1"})
    result = node.ctl("reset", "--yes", "--force")
    assert "receives them again when it joins" in result.stdout
    for name in ("accounts", BRIDGE_STATE):
        assert not os.path.exists(os.path.join(node.dir, "state", name))


def test_initialize_seeds_more_accounts_than_one_small_request_holds(node_factory, certs):
    """40 accounts make a MERGE of more than 4 KiB: the control socket took
    no request that large, closed the connection, and the accounts stayed
    out of the cluster's state."""
    node = cluster_node(node_factory, certs)
    names = [f"user{i}" for i in range(40)]
    for name in names:
        node.add_user(name, "same-pw")
    node.start()
    result = node.ctl("cluster", "initialize", check=False)
    assert result.returncode == 0, result.stderr
    assert "merged this node's 40 accounts" in result.stdout
    assert sorted(node.ctl("user", "list").stdout.split()) == sorted(names)


# ---- end to end, three real nodes, through the elector's write path ----


def added_secret(output):
    lines = output.strip().splitlines()
    return lines[[i for i, line in enumerate(lines) if "shown once" in line][0] + 1]


def cluster_user(node, verb, name, password=None):
    return node.ctl_input(["user", verb, name, "--stdin"] if password else ["user", verb, name],
                          (password + "\n") if password else "")


def test_a_user_added_on_one_node_logs_in_on_the_others_at_once(node_factory, certs):
    from xmpp import login, run

    nodes = form_cluster(node_factory, certs)
    result = cluster_user(nodes[0], "add", "alice", "alice-pw")
    assert result.returncode == 0, result.stderr
    assert "user alice added" in result.stdout
    applied = re.search(r"committed at index \d+ \(term \d+\) by a majority; applied on (\d) of 3",
                        result.stdout)
    assert applied, result.stdout
    # The leader waits for the members it hears; one it did not hear lately
    # (a loaded machine) is named, and only that one may still be applying.
    late = [n for n in nodes[1:] if n.cluster_address in result.stdout]
    assert int(applied.group(1)) + len(late) == 3, result.stdout

    async def logins():
        for node in nodes[1:]:
            if node in late:
                wait_until(lambda: "alice" in node.ctl("user", "list").stdout.split(),
                           what="the member named late to apply it")
            client = await login(node, "alice", "alice-pw")
            await client.close()

    run(logins())
    for node in nodes:
        assert node.ctl("user", "list").stdout.split() == ["alice"]


def test_a_password_changed_on_node_2_is_refused_with_the_old_one_everywhere(node_factory, certs):
    from xmpp import login, run

    nodes = form_cluster(node_factory, certs)
    assert cluster_user(nodes[0], "add", "bob", "old-pw").returncode == 0
    result = cluster_user(nodes[1], "passwd", "bob", "new-pw")
    assert result.returncode == 0, result.stderr
    assert "password changed" in result.stdout

    async def logins():
        for node in nodes:
            with pytest.raises(Exception):
                await login(node, "bob", "old-pw")
            client = await login(node, "bob", "new-pw")
            await client.close()

    run(logins())
    # A second add of the same name is the cluster's answer, on any node.
    again = cluster_user(nodes[2], "add", "bob", "x-pw")
    assert again.returncode == 1 and "user bob exists" in again.stderr


def test_a_bridge_added_on_node_3_connects_to_node_1(node_factory, certs):
    from xmpp import connect_bridge, run

    nodes = form_cluster(node_factory, certs)
    result = nodes[2].ctl("callbridge", "add", "cb5")
    secret = added_secret(result.stdout)
    assert "committed at index" in result.stdout

    async def bridge():
        peer = await connect_bridge(nodes[0], "cb5", secret)
        await peer.close()

    run(bridge())


def test_add_secret_identical_is_accepted_and_different_refused(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    secret = added_secret(nodes[0].ctl("callbridge", "add", "cb1").stdout)
    same = nodes[1].ctl_input(["callbridge", "add-secret", "cb1", "--stdin"], secret + "\n")
    assert same.returncode == 0, same.stderr
    assert "already known, identical" in same.stdout
    wrong = "mistyped-secret-42"
    other = nodes[2].ctl_input(["callbridge", "add-secret", "cb1", "--stdin"], wrong + "\n")
    assert other.returncode == 1
    assert "cb1" in other.stderr and "the cluster holds a different secret" in other.stderr
    for text in (other.stdout, other.stderr, same.stdout, same.stderr):
        assert secret not in text and wrong not in text
    listed = [n.ctl("callbridge", "list").stdout for n in nodes]
    assert listed[0] == listed[1] == listed[2] and secret in listed[0]


def test_without_quorum_a_change_fails_naming_the_unreachable_and_changes_nothing(
        node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    assert cluster_user(nodes[0], "add", "carol", "carol-pw").returncode == 0
    survivor, *stopped = nodes
    for node in stopped:
        node.stop()
    result = cluster_user(survivor, "add", "dave", "dave-pw")
    assert result.returncode == 1
    assert "nothing changed" in result.stderr
    assert any(n.cluster_address in result.stderr for n in stopped), result.stderr
    for node in stopped:
        node.start()
    wait_until(lambda: leader_of(nodes), timeout=20, what="a leader again")
    for node in nodes:
        wait_until(lambda: node.ctl("user", "list").stdout.split() == ["carol"], timeout=10,
                   what="carol alone on every node")


def test_a_member_powered_off_while_the_others_restart_holds_no_write_back(node_factory, certs):
    """The cluster's protocol is decided by what the log holds, not by who
    was heard since the elector started: with one member off and the
    rxmppd of the two others restarted (the leader first), neither has
    heard the member that is off, and a write on either still commits;
    `cluster status` names protocol 4 there all the same."""
    nodes = form_cluster(node_factory, certs)
    assert cluster_user(nodes[0], "add", "erin", "erin-pw").returncode == 0
    leader = leader_of(nodes)
    off = next(n for n in nodes if n is not leader)
    other = next(n for n in nodes if n is not leader and n is not off)
    off.stop()
    for node in (leader, other):
        node.stop()
        node.start()
    up = [leader, other]
    wait_until(lambda: leader_of(up), timeout=30, what="a leader of the two nodes up")
    for node, name in ((leader, "frank"), (other, "grace")):
        result = cluster_user(node, "add", name, name + "-pw")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "committed at index" in result.stdout, result.stdout
        assert "protocol 3" not in result.stdout + result.stderr
    for node in up:
        wait_until(lambda: node.ctl("user", "list").stdout.split() == ["erin", "frank", "grace"],
                   timeout=10, what="the three users on both nodes up")
        said = json.loads(node.ctl("cluster", "status", "--json").stdout)
        assert said["protocol"] == 4, said
    off.start()
    wait_until(lambda: off.ctl("user", "list").stdout.split() == ["erin", "frank", "grace"],
               timeout=20, what="the three users on the member that was off")


def test_kill_9_of_the_leader_during_writes_loses_no_committed_write(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    writer = next(n for n in nodes if n is not leader)
    answers = {}

    def writes():
        for i in range(40):
            answers[f"w{i}"] = cluster_user(writer, "add", f"w{i}", "pw").returncode

    thread = threading.Thread(target=writes)
    thread.start()
    wait_until(lambda: len(answers) >= 5, timeout=60, what="some writes")
    kill_node(leader)
    thread.join(timeout=300)
    assert not thread.is_alive()
    committed = {name for name, rc in answers.items() if rc == 0}
    assert committed, answers
    survivors = [n for n in nodes if n is not leader]
    for node in survivors:
        wait_until(lambda: committed <= set(node.ctl("user", "list").stdout.split()),
                   timeout=20, what="every committed write on every survivor")


def test_join_merges_new_and_identical_entries_and_refuses_conflicts_by_name(
        node_factory, certs):
    first = cluster_node(node_factory, certs)
    first.add_user("alice", "alice-pw")
    first.write_bridges({"cb1": "first-bridge-secret"})
    first.start()
    assert "merged this node's 1 account" in first.ctl("cluster", "initialize").stdout
    second = cluster_node(node_factory, certs)
    # The same account file (identical keys), one user more and the bridge.
    with open(os.path.join(first.dir, "state", "accounts.before-cluster")) as f:
        text = f.read()
    with open(os.path.join(second.dir, "state", "accounts"), "w") as f:
        f.write(text)
    second.add_user("bob", "bob-pw")
    second.write_bridges({"cb1": "first-bridge-secret", "cb2": "second-bridge-1"})
    second.start()
    joined = second.ctl("cluster", "join", first.cluster_address)
    assert "merged this node's 2 accounts and 2 call bridges" in joined.stdout
    third = cluster_node(node_factory, certs)
    third.add_user("alice", "another-pw")
    third.add_user("dave", "dave-pw")
    third.write_bridges({"cb1": "a-different-secret", "cb3": "third-bridge-1"})
    third.start()
    # Refused by the leader before the membership changes, naming each
    # conflict (not the new entries), never printing a secret or password.
    refused = third.ctl("cluster", "join", first.cluster_address, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "joined" not in refused.stdout
    assert "user alice" in refused.stderr and "call bridge cb1" in refused.stderr
    assert "dave" not in refused.stderr and "cb3" not in refused.stderr
    for secret in ("another-pw", "a-different-secret", "first-bridge-secret", "alice-pw"):
        assert secret not in refused.stderr + refused.stdout
    for node in (first, second):
        assert len(status(node)["members"]) == 2, status(node)
    assert len(status(third)["members"]) <= 1
    assert third.ctl("user", "list").stdout.split() == ["alice", "dave"]
    # With the conflicts put right on the third node, it joins, merges
    # its new entries and holds the cluster's state.
    third.ctl("user", "del", "alice")
    third.write_bridges({"cb1": "first-bridge-secret", "cb3": "third-bridge-1"})
    joined = third.ctl("cluster", "join", first.cluster_address)
    assert "merged this node's 1 account and 2 call bridges" in joined.stdout, joined.stdout
    wait_until(lambda: len(status(first)["members"]) == 3, what="three members")
    for node in (first, second, third):
        wait_until(lambda: node.ctl("user", "list").stdout.split() == ["alice", "bob", "dave"],
                   what="the merged accounts everywhere")
        wait_until(lambda: all(n in node.ctl("callbridge", "list").stdout
                               for n in ("cb1", "cb2", "cb3")),
                   what="the merged bridges everywhere")
    assert "first-bridge-secret" in third.ctl("callbridge", "list").stdout

    from xmpp import login, run

    async def alice_logs_in_on_the_third():
        client = await login(third, "alice", "alice-pw")
        await client.close()

    run(alice_logs_in_on_the_third())


def test_settings_that_must_agree_refuse_a_join_and_show_a_drift(node_factory, certs):
    nodes = form_cluster(node_factory, certs, size=2)
    other = cluster_node(node_factory, certs, extra="callbridge_conflict: refuse\n").start()
    result = other.ctl("cluster", "join", nodes[0].cluster_address, check=False)
    assert result.returncode == 1
    assert re.search(r'callbridge_conflict: this node "refuse", node [0-9a-f]{16} "replace"',
                     result.stderr), result.stderr
    # Refused by the leader before the membership changed.
    assert len(status(nodes[0])["members"]) == 2
    # A member whose setting drifts after a reload is shown on every node.
    with open(nodes[1].config, "a") as f:
        f.write("callbridge_conflict: refuse\n")
    nodes[1].ctl("reload")
    drifted = status(nodes[1])["node"]
    for node in nodes:
        wait_until(lambda: any(d["node"] == drifted and d["key"] == "callbridge_conflict"
                               for d in status(node).get("settings_drift", [])),
                   timeout=10, what="the drift in cluster status")
    assert "Settings that must agree DIFFER" in nodes[0].ctl("cluster", "status").stdout


def test_a_node_with_another_domain_is_refused_at_join_and_joins_once_fixed(node_factory, certs):
    """The leader compares the joiner's settings that must agree before it
    changes the membership: a node of another domain is told each differing
    key with both values and is not a member; with its domain put right it
    joins."""
    nodes = form_cluster(node_factory, certs, size=2)
    other = cluster_node(node_factory, certs)
    text = open(other.config).read()
    other.write_config(text=text.replace("domain: test.example\n", "domain: chat.test.example\n"))
    other.start()
    result = other.ctl("cluster", "join", nodes[0].cluster_address, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r'domain: this node "?chat\.test\.example"?, node [0-9a-f]{16} "?test\.example"?',
                     result.stderr), result.stderr
    assert "joined" not in result.stdout
    for node in nodes:
        assert len(status(node)["members"]) == 2, status(node)
    assert len(status(other)["members"]) <= 1
    other.stop()
    other.write_config(text=text)
    other.start()
    result = other.ctl("cluster", "join", nodes[0].cluster_address)
    assert "joined" in result.stdout
    wait_until(lambda: all(len(status(n)["members"]) == 3 for n in nodes + [other]),
               timeout=20, what="three members")


def test_the_settings_a_removed_member_reported_refuse_no_joiner(node_factory, certs):
    """The state keeps the settings a removed node last reported; the
    leader compares a joiner with the current members' only."""
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    drifting = next(n for n in nodes if n is not leader)
    with open(drifting.config, "a") as f:
        f.write("callbridge_conflict: refuse\n")
    drifting.ctl("reload")
    drifted = status(drifting)["node"]
    wait_until(lambda: any(d["node"] == drifted for d in status(leader).get("settings_drift", [])),
               timeout=10, what="the drift recorded")
    leader.ctl("cluster", "remove", drifted)
    wait_until(lambda: len(status(leader)["members"]) == 2, what="the member removed")
    drifting.stop()
    newcomer = cluster_node(node_factory, certs).start()
    result = newcomer.ctl("cluster", "join", leader.cluster_address, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "joined" in result.stdout
    wait_until(lambda: len(status(leader)["members"]) == 3, what="three members")


def test_a_call_bridges_file_in_any_order_is_merged(node_factory, certs):
    """The file keeps the administrator's order; a MERGE lists its bridges
    by name (the state machine refuses another order)."""
    first = cluster_node(node_factory, certs)
    first.write_bridges({"cb2": "second-bridge-1", "cb1": "first-bridge-1"})
    first.start()
    initialized = first.ctl("cluster", "initialize")
    assert "0 accounts and 2 call bridges" in initialized.stdout, initialized.stdout
    second = cluster_node(node_factory, certs)
    second.write_bridges({"cb4": "fourth-bridge-1", "cb3": "third-bridge-1"})
    second.start()
    joined = second.ctl("cluster", "join", first.cluster_address)
    assert "0 accounts and 2 call bridges" in joined.stdout, joined.stdout
    for node in (first, second):
        wait_until(lambda: all(name in node.ctl("callbridge", "list").stdout
                               for name in ("cb1", "cb2", "cb3", "cb4")),
                   what="every bridge on every node")


def test_a_node_with_too_many_accounts_for_the_join_request_is_checked_when_merged(
        node_factory, certs):
    """Names and digests of more than about 1 MiB do not travel with the
    join: rxmppctl says so, and the merge after the join refuses the
    conflict by name and merges nothing (the node is a member then)."""
    first = cluster_node(node_factory, certs)
    first.add_user("alice", "alice-pw")
    first.start()
    first.ctl("cluster", "initialize")
    big = cluster_node(node_factory, certs)
    big.add_user("alice", "another-pw")
    path = os.path.join(big.dir, "state", "accounts")
    with open(path) as f:
        lines = f.read().splitlines()
    alice = next(line for line in lines if line.startswith("alice "))
    keys = alice.split(" ", 1)[1]
    # 5,000 names of 200 bytes: some 1.1 MB of names and digests.
    body = [alice] + [f"{'u' * 195}{i:05d} {keys}" for i in range(5000)]
    text = lines[0] + "\n" + "\n".join(body) + "\n"
    text += "sha256 " + hashlib.sha256(text.encode()).hexdigest() + "\n"
    with open(path, "w") as f:
        f.write(text)
    big.start()
    result = big.ctl("cluster", "join", first.cluster_address, check=False)
    assert "too many to be checked before it joins" in result.stdout, result.stdout
    assert result.returncode == 1, result.stdout + result.stderr
    assert "user alice" in result.stderr and "another-pw" not in result.stderr
    assert len(status(first)["members"]) == 2
    assert first.ctl("user", "list").stdout.split() == ["alice"]


def test_a_bridge_the_cluster_deleted_does_not_come_back_from_an_unchanged_file(
        node_factory, certs):
    """A node's call-bridges file is the administrator's and keeps a bridge
    the cluster deleted; a join merges only what is new or changed in it
    since it was merged (state_directory/callbridges.merged)."""
    first = cluster_node(node_factory, certs).start()
    first.ctl("cluster", "initialize")
    second = cluster_node(node_factory, certs)
    second.write_bridges({"cb7": "seventh-bridge-1"})
    second.start()
    joined = second.ctl("cluster", "join", first.cluster_address)
    assert "1 call bridge into the cluster's state" in joined.stdout, joined.stdout
    wait_until(lambda: "cb7" in first.ctl("callbridge", "list").stdout, what="cb7 merged")
    first.ctl("callbridge", "del", "cb7")
    wait_until(lambda: "cb7" not in second.ctl("callbridge", "list").stdout,
               what="cb7 deleted everywhere")
    first.ctl("cluster", "remove", status(second)["node"])
    wait_until(lambda: len(status(first)["members"]) == 1, what="the member removed")
    assert second.stop() == 0
    second.ctl("reset", "--yes", "--force")
    # The file is unchanged but for a new bridge.
    second.write_bridges({"cb7": "seventh-bridge-1", "cb8": "eighth-bridge-1"})
    second.start()
    joined = second.ctl("cluster", "join", first.cluster_address)
    for node in (first, second):
        wait_until(lambda: "cb8" in node.ctl("callbridge", "list").stdout, what="cb8 merged")
        assert "cb7" not in node.ctl("callbridge", "list").stdout
    assert "1 call bridge of" in joined.stdout and "not merged again" in joined.stdout
    assert "merged this node's 0 accounts and 1 call bridge" in joined.stdout, joined.stdout
    # A damaged record is named, and nothing is asked of the cluster.
    with open(os.path.join(second.dir, "state", "callbridges.merged"), "a") as f:
        f.write("cb9 not-a-digest\n")
    result = second.ctl("cluster", "join", first.cluster_address, check=False)
    assert result.returncode == 1
    assert re.search(r"callbridges\.merged:4: not a record of merged call bridges", result.stderr)


# ---- a real partition (network namespaces): the history of every answer ----

@pytest.fixture
def partitioned_network():
    from netns import cannot_make_namespaces, cluster_network

    reason = cannot_make_namespaces()
    if reason:
        pytest.skip(reason)
    with cluster_network(3) as (_, places):
        yield places


def test_writes_on_both_sides_of_a_partition_keep_one_history(partitioned_network,
                                                              node_factory):
    """The leader is cut off; user add and callbridge add run on both sides
    at once, each answer recorded.  After healing: what was reported
    committed is on every node, what was reported refused (nothing changed)
    is on none, and every node holds the same state."""
    import netns

    nodes = [netns.cluster_node(node_factory(), name, address).start()
             for name, address in partitioned_network]
    assert "initialized" in nodes[0].ctl("cluster", "initialize").stdout
    for node in nodes[1:]:
        assert "joined" in node.ctl("cluster", "join", nodes[0].cluster_address).stdout
    wait_until(lambda: all(len(status(n)["members"]) == 3 for n in nodes), what="a formed cluster")
    leader = next(n for n in nodes if status(n)["state"] == "LEADER")
    majority = [n for n in nodes if n is not leader]
    netns.ip("link", "set", "eth0", "down", ns=leader.namespace)

    answers = []  # (side, kind, name, returncode, stdout + stderr)
    lock = threading.Lock()

    def writes(node, side):
        for i in range(6):
            name = f"{side}{i}"
            result = cluster_user(node, "add", name, "pw")
            bridge = node.ctl("callbridge", "add", f"cb-{side}{i}", check=False)
            with lock:
                answers.append((side, "user", name, result.returncode,
                                result.stdout + result.stderr))
                answers.append((side, "bridge", f"cb-{side}{i}", bridge.returncode,
                                bridge.stdout + bridge.stderr))

    threads = [threading.Thread(target=writes, args=(leader, "min")),
               threading.Thread(target=writes, args=(majority[0], "maj"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    netns.ip("link", "set", "eth0", "up", ns=leader.namespace)

    def one_leader():
        views = [status(n) for n in nodes]
        leaders = [v["node"] for v in views if v["state"] == "LEADER"]
        return len(leaders) == 1 and {v["leader"] for v in views} == {leaders[0]}

    wait_until(one_leader, timeout=30, what="one leader after healing")

    def state(node):
        users = set(node.ctl("user", "list").stdout.split())
        bridges = {line.split()[0] for line in node.ctl("callbridge", "list").stdout.splitlines()
                   if line.strip()}
        return users, bridges

    wait_until(lambda: state(nodes[0]) == state(nodes[1]) == state(nodes[2]), timeout=30,
               what="every node to hold the same state")
    users, bridges = state(nodes[0])
    held = {"user": users, "bridge": bridges}
    print("answers:", [(a[0], a[1], a[2], a[3]) for a in answers])
    # Every answer is one of three: committed, refused having changed
    # nothing, or honestly unknown (in a leader's log when it lost its
    # majority).
    for side, kind, name, code, text in answers:
        assert code == 0 or "nothing changed" in text or "unknown whether" in text, text
    committed = [a for a in answers if a[3] == 0]
    refused = [a for a in answers if a[3] != 0 and "nothing changed" in a[4]]
    for side, kind, name, _, text in committed:
        assert "committed at index" in text, text
        assert name in held[kind], (side, kind, name)
    for side, kind, name, _, text in refused:
        assert name not in held[kind], (side, kind, name, text)
    # The majority side commits; the cut-off leader's side cannot.
    assert any(a[0] == "maj" for a in committed)
    assert not any(a[0] == "min" for a in committed)


def test_a_reset_node_joins_again_and_receives_the_state_without_bringing_back_the_old(
        node_factory, certs):
    """CSCvi67717 with the cluster's state: the node replaces its old entry,
    receives the accounts and bridges, and what the cluster deleted while it
    was away does not come back from its old copy."""
    from xmpp import login, run

    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    third = next(n for n in nodes if n is not leader)
    assert cluster_user(leader, "add", "erin", "erin-pw").returncode == 0
    assert cluster_user(leader, "add", "gone", "gone-pw").returncode == 0
    wait_until(lambda: "gone" in third.ctl("user", "list").stdout.split(), what="gone on third")
    assert third.stop() == 0
    assert "receives them again" in third.ctl("reset", "--yes", "--force").stdout
    assert cluster_user(leader, "del", "gone").returncode == 0
    third.start()
    assert "joined" in third.ctl("cluster", "join", leader.cluster_address).stdout
    wait_until(lambda: third.ctl("user", "list").stdout.split() == ["erin"],
               what="the cluster's accounts on the rejoined node")

    async def erin_logs_in():
        client = await login(third, "erin", "erin-pw")
        await client.close()

    run(erin_logs_in())
    for node in nodes:
        assert node.ctl("user", "list").stdout.split() == ["erin"]


def test_a_member_that_missed_the_leaders_addition_follows_it_and_catches_up(node_factory,
                                                                              certs):
    """Review of issue 15, finding 3: node 3 is down while node 4 joins, and
    node 4 then leads.  Node 3's membership does not list node 4; it takes
    node 4 as its leader on the word of a member it knows (1 and 2 answer
    its pre-votes naming the leader they follow) and applies what is
    written after: a user added on the leader logs in on node 3."""
    from xmpp import login, run

    nodes = form_cluster(node_factory, certs)
    third = nodes[2]
    third.stop()
    fourth = cluster_node(node_factory, certs).start()
    joined = fourth.ctl("cluster", "join", nodes[0].cluster_address)
    assert "joined" in joined.stdout, joined.stdout + joined.stderr
    up = [nodes[0], nodes[1], fourth]
    wait_until(lambda: all(len(status(n)["members"]) == 4 for n in up), timeout=20,
               what="the three nodes up to list four members")
    leader = leader_of(up)
    if leader is not fourth:
        out = leader.ctl("cluster", "leader", fourth.cluster_address).stdout
        assert "leadership handed over" in out, out
    wait_until(lambda: leader_of(up) is fourth, timeout=20, what="node 4 to lead")
    mark = third.log_mark()
    third.start()
    result = cluster_user(fourth, "add", "zoe", "zoe-pw")
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: "zoe" in third.ctl("user", "list").stdout.split(), timeout=30,
               what="node 3 to apply the user added on node 4")
    assert status(third)["leader"] == status(fourth)["node"]

    async def logins():
        client = await login(third, "zoe", "zoe-pw")
        await client.close()

    run(logins())
    # A refusal of the leader it could not verify yet is said once at most.
    refusals = [line for line in third.lines[mark:] if "as the leader of term" in line]
    assert len(refusals) <= 1, refusals
