# SPDX-License-Identifier: MIT
"""Sessions can be seen and ended (issue 22, point 4): `rxmppctl sessions`
lists the node's client sessions and call bridges with their address, TLS
version, start and idleness; `rxmppctl kick` ends one session (full JID),
all of a user's (bare JID) or a bridge's with <policy-violation/>; `user
del` and `user passwd` end the user's live sessions with <not-authorized/>
and <reset/>.  Real slixmpp clients see the stream error, and the session
is gone from the list."""

import asyncio
import json
import re
import time

import pytest

from rxmpp_node import wait_until
from test_xmpp import BRIDGE_SECRET, make_xnode
from xmpp import WAIT, connect_bridge, login, run


@pytest.fixture
def snode(node_factory):
    return make_xnode(node_factory).start()


def sessions(node):
    return json.loads(node.ctl("sessions", "--json").stdout)


def jids(node):
    return sorted(s["jid"] for s in sessions(node)["sessions"])


def watch_errors(peer):
    """A queue of the stream errors the peer receives."""
    errors = asyncio.Queue()
    peer.add_event_handler("stream_error", errors.put_nowait)
    return errors


async def stream_error_of(peer, errors):
    error = await asyncio.wait_for(errors.get(), WAIT)
    await asyncio.wait_for(peer.gone, WAIT)
    return error["condition"], error["text"]


def test_sessions_lists_clients_and_bridges(snode):
    async def scenario():
        alice = await login(snode, "alice", "alice-pw", resource="desk")
        bob = await login(snode, "bob", "bob-pw", resource="phone")
        bridge = await connect_bridge(snode, "cb1", BRIDGE_SECRET)
        before = time.time()
        listed = wait_until(lambda: (lambda s: s if s["total"] == 3 else None)(sessions(snode)),
                            what="three sessions listed")
        assert listed["shown"] == 3
        by_jid = {s["jid"]: s for s in listed["sessions"]}
        assert sorted(by_jid) == ["alice@test.example/desk", "bob@test.example/phone",
                                  "cb1.test.example"]
        assert by_jid["alice@test.example/desk"]["kind"] == "client"
        assert by_jid["cb1.test.example"]["kind"] == "callbridge"
        for s in listed["sessions"]:
            assert re.fullmatch(r"\[127\.0\.0\.1\]:\d+", s["address"]), s
            assert s["tls"] in ("TLSv1.2", "TLSv1.3"), s
            assert before - 60 < s["since_ms"] / 1000 <= time.time() + 1, s
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["since"]), s
            assert 0 <= s["idle_ms"] < 60000, s
            assert s["node"] is None, s  # no cluster
        # The client's own port is the one listed.
        port = alice.transport.get_extra_info("sockname")[1]
        assert by_jid["alice@test.example/desk"]["address"] == f"[127.0.0.1]:{port}"
        table = snode.ctl("sessions").stdout
        assert re.search(r"^JID +KIND +ADDRESS +TLS +SINCE +IDLE$", table, re.M), table
        assert re.search(r"^bob@test\.example/phone +client +\[127\.0\.0\.1\]:\d+ +TLSv1\.[23] ",
                         table, re.M), table
        assert "3 sessions on this node" in table
        for peer in (alice, bob, bridge):
            await peer.close()
        wait_until(lambda: sessions(snode)["total"] == 0, what="no session listed")
        assert "no sessions on this node" in snode.ctl("sessions").stdout

    run(scenario())


def test_kick_a_full_jid_ends_that_session_only(snode):
    async def scenario():
        desk = await login(snode, "alice", "alice-pw", resource="desk")
        phone = await login(snode, "alice", "alice-pw", resource="phone")
        errors = watch_errors(desk)
        result = snode.ctl("kick", "alice@test.example/desk")
        assert "ended 1 session of alice@test.example/desk" in result.stdout
        assert await stream_error_of(desk, errors) == ("policy-violation",
                                                       "kicked by the administrator")
        wait_until(lambda: jids(snode) == ["alice@test.example/phone"],
                   what="only the phone left")
        # The other resource still works.
        await phone["xep_0199"].ping("test.example", timeout=10)
        await phone.close()

    run(scenario())
    snode.wait_log(r"client session alice@test\.example/desk from \[127\.0\.0\.1\]:\d+ ended "
                   r"after \d+\.\d s: stream error policy-violation: kicked by the administrator")


def test_kick_a_bare_jid_ends_every_session_of_the_user(snode):
    async def scenario():
        desk = await login(snode, "alice", "alice-pw", resource="desk")
        phone = await login(snode, "alice", "alice-pw", resource="phone")
        bob = await login(snode, "bob", "bob-pw", resource="b")
        errors = [watch_errors(desk), watch_errors(phone)]
        # Any case: JIDs are compared in their normal form.
        result = snode.ctl("kick", "Alice@Test.Example")
        assert "ended 2 sessions of alice@test.example" in result.stdout
        for peer, queue in zip((desk, phone), errors):
            assert (await stream_error_of(peer, queue))[0] == "policy-violation"
        wait_until(lambda: jids(snode) == ["bob@test.example/b"], what="only bob left")
        await bob.close()

    run(scenario())


def test_kick_a_call_bridge_and_nobody(snode):
    async def scenario():
        bridge = await connect_bridge(snode, "cb1", BRIDGE_SECRET)
        errors = watch_errors(bridge)
        snode.ctl("kick", "cb1.test.example")
        assert (await stream_error_of(bridge, errors))[0] == "policy-violation"
        wait_until(lambda: jids(snode) == [], what="the bridge gone from the list")

    run(scenario())
    nobody = snode.ctl("kick", "carol@test.example", check=False)
    assert nobody.returncode == 1
    assert "no session of carol@test.example on this node" in nobody.stdout
    assert "no session of carol@test.example ended" in nobody.stderr
    bad = snode.ctl("kick", "not a jid", check=False)
    assert bad.returncode == 1 and "not a valid JID" in bad.stderr
    usage = snode.ctl("kick", check=False)
    assert usage.returncode == 2


def test_user_del_and_passwd_end_the_users_sessions(snode):
    async def scenario():
        alice = await login(snode, "alice", "alice-pw", resource="a")
        bob = await login(snode, "bob", "bob-pw", resource="b")
        alice_errors, bob_errors = watch_errors(alice), watch_errors(bob)
        changed = snode.ctl_input(["user", "passwd", "alice", "--stdin"], "new-pw\n")
        assert changed.returncode == 0, changed.stderr
        assert "ended 1 session of alice@test.example" in changed.stdout
        assert await stream_error_of(alice, alice_errors) == ("reset",
                                                              "the password was changed")
        # The old password no longer logs in; the new one does.
        with pytest.raises(PermissionError):
            await login(snode, "alice", "alice-pw")
        again = await login(snode, "alice", "new-pw", resource="again")
        deleted = snode.ctl("user", "del", "bob")
        assert "ended 1 session of bob@test.example" in deleted.stdout
        assert await stream_error_of(bob, bob_errors) == ("not-authorized",
                                                          "the account was deleted")
        wait_until(lambda: jids(snode) == ["alice@test.example/again"], what="bob gone")
        await again.close()
        # Nobody logged in: nothing to end, and that is no failure.
        quiet = snode.ctl("user", "del", "alice")
        assert "no session of alice@test.example on this node" in quiet.stdout

    run(scenario())


def cluster_ids(node):
    return json.loads(node.ctl("cluster", "status", "--json").stdout)["node"]


def test_the_cluster_lists_and_kicks_through_the_leader(node_factory, certs):
    """Each node lists its own sessions in full and the others' by JID and
    node, as the leader's routing table holds them; a kick on one node ends
    sessions on the others, from a follower through the leader as well."""
    from test_cluster import BRIDGE_SECRET as CLUSTER_BRIDGE_SECRET
    from test_cluster import cluster_with_accounts

    leader, one, two = cluster_with_accounts(node_factory, certs)
    ids = {n: cluster_ids(n) for n in (leader, one, two)}

    def remote(node):
        cluster = sessions(node)["cluster"]
        assert cluster is not None and cluster["state"] == "ok", cluster
        assert cluster["node"] == ids[node] and cluster["leader"] == ids[leader], cluster
        return sorted((s["jid"], s["node"]) for s in cluster["sessions"])

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a")
        bob = await login(two, "bob", "bob-pw", resource="b")
        bridge = await connect_bridge(leader, "cb1", CLUSTER_BRIDGE_SECRET)
        everyone = [("alice@test.example/a", ids[one]), ("bob@test.example/b", ids[two]),
                    ("cb1.test.example", ids[leader])]
        # From a follower (through the leader's relay) and from the leader.
        for node in (one, two, leader):
            wait_until(lambda: remote(node) == sorted(e for e in everyone if e[1] != ids[node]),
                       what=f"the other nodes' sessions seen from {ids[node]}")
            assert [(s["jid"], s["node"]) for s in sessions(node)["sessions"]] == \
                [e for e in everyone if e[1] == ids[node]]
        table = one.ctl("sessions").stdout
        assert re.search(rf"^bob@test\.example/b +client +{ids[two]}$", table, re.M), table
        assert re.search(rf"^cb1\.test\.example +callbridge +{ids[leader]}$", table, re.M), table
        assert "2 sessions on the other nodes" in table
        assert f"1 session on this node (node {ids[one]})" in table

        # A follower kicks a session held by the other follower.
        bob_errors = watch_errors(bob)
        result = one.ctl("kick", "bob@test.example")
        assert "no session of bob@test.example on this node" in result.stdout
        assert "told the other nodes to end 1 session of bob@test.example" in result.stdout
        assert await stream_error_of(bob, bob_errors) == ("policy-violation",
                                                          "kicked by the administrator")
        # The leader kicks a follower's session.
        alice_errors = watch_errors(alice)
        result = leader.ctl("kick", "alice@test.example/a")
        assert "told the other nodes to end 1 session" in result.stdout
        assert (await stream_error_of(alice, alice_errors))[0] == "policy-violation"
        wait_until(lambda: remote(two) == [("cb1.test.example", ids[leader])],
                   what="only the bridge left in the cluster")
        # A follower kicks the leader's own session.
        bridge_errors = watch_errors(bridge)
        two.ctl("kick", "cb1.test.example")
        assert (await stream_error_of(bridge, bridge_errors))[0] == "policy-violation"
        wait_until(lambda: remote(one) == [], what="nobody left")
        nobody = two.ctl("kick", "alice@test.example", check=False)
        assert nobody.returncode == 1
        assert "no session of alice@test.example on the other nodes" in nobody.stdout

    run(scenario())
    two.wait_log(r"client session bob@test\.example/b from \[127\.0\.0\.1\]:\d+ ended after "
                 r"\d+\.\d s: stream error policy-violation: kicked by the administrator")


def test_a_single_node_has_no_cluster_part(snode):
    listed = sessions(snode)
    assert listed["cluster"] is None and listed["sessions"] == []
    assert "other nodes" not in snode.ctl("sessions").stdout
