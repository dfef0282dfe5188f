# SPDX-License-Identifier: MIT
"""A roster iq held by the leader's im while the leadership moves
(review18p #4): the old leader's router no longer reaches the user's
node, so im's answer cannot go: it is dropped with a log line, not
silently.  What is still missing (README "Rosters"): an answer to the
client (the follower that forwarded the iq does not keep it)."""

import asyncio
import os
import signal

from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of
from test_roster import NS, get_roster, roster_iq
from xmpp import IqError, login, run


def test_an_answer_lost_to_a_leadership_move_is_logged(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    old = leader_of(nodes)
    home, other = [n for n in nodes if n is not old]
    old.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    wait_until(lambda: all("alice" in n.ctl("user", "list").stdout for n in nodes),
               what="alice on every node")
    im = old.children()["im"]["pid"]

    async def scenario():
        a = await login(home, "alice", "alice-pw")
        await get_roster(a)  # the leader knows her session
        mark = old.log_mark()
        os.kill(im, signal.SIGSTOP)
        try:
            fut = asyncio.ensure_future(
                roster_iq(a, "get", f"<query xmlns='{NS}'/>").send(timeout=25))
            await asyncio.sleep(1.0)

            def transfer():
                out = old.ctl("cluster", "leader", other.cluster_address).stdout
                assert "leadership handed over" in out, out
                wait_until(lambda: leader_of(nodes) is other, what="the new leader")
            await asyncio.get_event_loop().run_in_executor(None, transfer)
        finally:
            os.kill(im, signal.SIGCONT)
        await asyncio.get_event_loop().run_in_executor(None, lambda: old.wait_log(
            r"router\[\d+\]: an answer of im to .* is dropped: its node is not reached "
            r"from here \(this node no longer leads\)", start=mark, timeout=20))
        try:
            kind = (await fut)["type"]
        except IqError as e:
            kind = "error " + e.iq["error"]["condition"]
        except Exception as e:
            kind = f"no answer ({type(e).__name__})"
        await a.close()
        print("the client got:", kind)

    run(scenario(), timeout=200)
