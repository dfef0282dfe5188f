# SPDX-License-Identifier: MIT
"""A stream that a client ends gracefully is forgotten by the router in the
same turn of the listener's loop, not at the listener's next timer: on an
idle node the router's table shrinks at once, and in a cluster a message to
that full JID sent right afterwards from another node is stored offline
(RFC 6121 8.5.3.2.1) instead of vanishing."""

import json
import time

from rxmpp_node import wait_until
from test_cluster import cluster_with_accounts
from test_offline import offline_count


def test_router_forgets_a_gracefully_closed_session_at_once(node):
    from xmpp import login, run

    node.add_user("alice", "alice-pw")

    async def scenario():
        alice = await login(node, "alice", "alice-pw", resource="idle")
        node.wait_log(r"session alice@test\.example/idle up")
        mark = node.log_mark()
        await alice.close()  # </stream:stream>, then the connection closes
        return mark

    mark = run(scenario())
    closed_at = time.monotonic()
    # The listener is idle now: nothing else would wake it before its 10 s
    # trim timer, so the router hears of the end only if the flush that
    # closed the connection also sent SESSION_DOWN.
    node.wait_log(r"session alice@test\.example/idle ended", start=mark, timeout=2.0,
                  what="the router to forget the session")
    print(f"router forgot the session {(time.monotonic() - closed_at) * 1000:.0f} ms after "
          "the client's stream ended")
    # rxmppctl status counts from the same flush.
    wait_until(lambda: json.loads(node.ctl("status", "--json").stdout)["sessions"] == 0,
               timeout=2.0, what="rxmppctl status to count no session")


def test_message_to_a_full_jid_that_just_left_another_node_is_stored_offline(node_factory,
                                                                               certs):
    import asyncio

    from xmpp import login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a")
        bob = await login(two, "bob", "bob-pw", resource="gone")
        # Both sessions are known to the leader before the test goes on.
        leader.wait_log(r"bob@test\.example/gone", what="the leader to learn bob's session")
        alice.send_message(mto="bob@test.example/gone", mbody="are you there?", mtype="chat")
        assert (await bob.next_message())["body"] == "are you there?"
        errors = asyncio.Queue()
        alice.add_event_handler("message_error", errors.put_nowait)
        await bob.close()
        alice.send_message(mto="bob@test.example/gone", mbody="still there?", mtype="chat",
                           mfrom=alice.boundjid)
        # RFC 6121 8.5.3.2.1: no resource of bob is online, so the message
        # is treated as sent to the bare JID: stored offline.
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_until(
            lambda: offline_count(two, "bob") == 1, what="the message stored offline"))
        assert errors.empty() and alice.inbox.empty()
        await alice.close()
        again = await login(one, "bob", "bob-pw", resource="back")
        assert (await again.next_message())["body"] == "still there?"
        await again.close()

    run(scenario())


def test_messages_racing_a_session_end_arrive_or_are_stored(node_factory, certs):
    """A burst from another node races bob's end of stream: each message
    is either read by bob before his stream closed, or stored offline and
    read at his next login, or (beyond the offline quota of 200) comes back
    to alice as an error; none vanishes, none arrives twice."""
    import asyncio

    from xmpp import login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)
    count = 300

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a")
        bob = await login(two, "bob", "bob-pw", resource="leaving")
        leader.wait_log(r"bob@test\.example/leaving", what="the leader to learn bob's session")
        errors = asyncio.Queue()
        alice.add_event_handler("message_error", errors.put_nowait)
        received = []
        bob.add_event_handler("message", lambda m: received.append(m["id"]))
        sent = []
        for n in range(count):
            message = alice.make_message(mto="bob@test.example/leaving", mbody=f"m{n}",
                                         mtype="chat")
            message["id"] = f"race-{n}"
            message.send()
            sent.append(f"race-{n}")
            if n == count // 4:
                closing = asyncio.ensure_future(bob.close())
            if n % 10 == 0:
                await asyncio.sleep(0.001)
        await closing
        # Every message is settled: read, stored or bounced.
        bounced = []
        loop = asyncio.get_event_loop()
        deadline = loop.time() + 30
        while len(received) + len(bounced) + (offline_count(two, "bob") or 0) < count:
            assert loop.time() < deadline, (len(received), len(bounced))
            try:
                bounced.append((await asyncio.wait_for(errors.get(), 0.5))["id"])
            except asyncio.TimeoutError:
                pass
        stored = offline_count(two, "bob")
        again = await login(one, "bob", "bob-pw", resource="back")
        later = [(await again.next_message())["id"] for _ in range(stored)]
        await asyncio.sleep(0.5)  # anything more would be a duplicate
        while not errors.empty():
            bounced.append(errors.get_nowait()["id"])
        assert again.inbox.empty()
        rerouted = sum("ended before a delivery" in line for line in two.lines)
        print(f"{len(received)} read by bob, {stored} stored offline, {len(bounced)} came "
              f"back to alice, {rerouted} found bob's session gone on his node and were "
              "routed again")
        assert sorted(received + later + bounced) == sorted(sent)
        assert stored > 0 and len(received) > 0
        await again.close()
        await alice.close()

    run(scenario())
