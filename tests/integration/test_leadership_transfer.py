# SPDX-License-Identifier: MIT
"""Leadership transfer (Raft thesis 3.10) on three real nodes:
`rxmppctl cluster leader [NODE]` moves the leadership, from the leader or
from a follower, in the next term (no election timeout); and a planned
stop of the leader (SIGTERM to rxmppd, as systemctl stop sends) hands the
leadership over before any child stops; with numbered messages flowing
between clients of the two other nodes, none is lost, bounced or twice,
in order.
The longest gap those clients saw is printed, not asserted."""

import time

from rxmpp_node import wait_until
from test_cluster import (cluster_with_accounts, form_cluster, is_probe, leader_of, status,
                          until_reachable)


def test_cluster_leader_moves_leadership(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    old = leader_of(nodes)
    term = status(old)["term"]
    target, other = [n for n in nodes if n is not old]
    # Asked on a follower, naming the other follower by address.
    out = target.ctl("cluster", "leader", other.cluster_address).stdout
    assert "leadership handed over" in out, out
    new = wait_until(lambda: leader_of(nodes), what="a leader")
    assert new is other
    assert status(other)["term"] == term + 1  # a transfer, not a second election
    wait_until(lambda: all(status(n)["leader"] == status(other)["node"] for n in nodes),
               what="every node to follow the new leader")
    old.wait_log(r"elector.*handing leadership to", what="the old leader's transfer line")
    # Asked on the leader, naming nobody: the most up-to-date other member.
    out = other.ctl("cluster", "leader").stdout
    assert "leadership handed over" in out, out
    again = wait_until(lambda: leader_of(nodes), what="a leader")
    assert again is not other
    assert status(again)["term"] == term + 2
    # Naming the leader changes nothing; naming no member is refused.
    out = old.ctl("cluster", "leader", again.cluster_address).stdout
    assert "leads already" in out, out
    result = old.ctl("cluster", "leader", "127.0.0.1:1", check=False)
    assert result.returncode != 0 and "no member 127.0.0.1:1" in result.stderr + result.stdout
    assert status(again)["term"] == term + 2


def handed_over_before_stopping(node, mark):
    """The old leader's log: the transfer is done before any child stops."""
    lines = node.lines[mark:]
    handed = next(i for i, line in enumerate(lines)
                  if "before stopping: leadership handed over" in line)
    first_stop = next(i for i, line in enumerate(lines) if "rxmppd" in line and
                      "stopping " in line and "(pid" in line)
    assert handed < first_stop, "\n".join(lines[max(handed - 5, 0):first_stop + 5])


def test_planned_stop_of_the_leader_hands_leadership_over_first(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    term = status(leader)["term"]
    mark = len(leader.lines)
    assert leader.stop() == 0
    handed_over_before_stopping(leader, mark)
    rest = [n for n in nodes if n is not leader]
    new = leader_of(rest)
    assert new is not None and status(new)["term"] == term + 1
    assert all(status(n)["leader"] == status(new)["node"] for n in rest)


def test_planned_stop_of_the_leader_with_traffic_loses_nothing(node_factory, certs):
    import asyncio

    from xmpp import login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)
    term = status(leader)["term"]
    count = 300
    mark = len(leader.lines)

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a")
        bob = await login(two, "bob", "bob-pw", resource="b")
        await until_reachable(alice, bob, "bob@test.example/b")
        await until_reachable(bob, alice, "alice@test.example/a")
        arrivals = {"alice": [], "bob": []}
        # A bounce is an error without a body, which slixmpp does not hand
        # to the "message" handlers: heard here, it fails the test too.
        bounced = []
        for client in (alice, bob):
            client.add_event_handler(
                "message_error", lambda m: bounced.append(m) if not is_probe(m) else None)

        async def collect(client, name):
            while len(arrivals[name]) < count:
                message = await client.next_message(timeout=30)
                if not is_probe(message):
                    arrivals[name].append((time.monotonic(), message["body"]))

        collectors = [asyncio.ensure_future(collect(alice, "alice")),
                      asyncio.ensure_future(collect(bob, "bob"))]
        stopping = None
        for n in range(count):
            alice.send_message(mto="bob@test.example/b", mbody=f"a{n}", mtype="chat")
            bob.send_message(mto="alice@test.example/a", mbody=f"b{n}", mtype="chat")
            await asyncio.sleep(0.01)
            if n == count // 3:
                stopping = asyncio.get_event_loop().run_in_executor(None, leader.stop)
        assert await stopping == 0
        await asyncio.wait_for(asyncio.gather(*collectors), 60)
        # Nothing more comes: no duplicate is on its way.
        await asyncio.sleep(1.0)
        for client in (alice, bob):
            while not client.inbox.empty():
                assert is_probe(client.inbox.get_nowait())
        assert not bounced, [str(m) for m in bounced]
        for name, prefix in (("bob", "a"), ("alice", "b")):
            bodies = [body for _, body in arrivals[name]]
            assert bodies == [f"{prefix}{n}" for n in range(count)], bodies[:20]
            times = [t for t, _ in arrivals[name]]
            gap = max(b - a for a, b in zip(times, times[1:]))
            print(f"planned stop of the leader: {name} got {count} messages in order, none "
                  f"lost or twice; longest gap {gap * 1000:.0f} ms (10 ms between sends)")
        await alice.close()
        await bob.close()

    run(scenario(), timeout=180)
    handed_over_before_stopping(leader, mark)
    new = leader_of([one, two])
    assert new is not None
    assert status(new)["term"] == term + 1
    assert all(status(n)["leader"] == status(new)["node"] for n in (one, two))
