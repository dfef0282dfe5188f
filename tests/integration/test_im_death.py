# SPDX-License-Identifier: MIT
"""An iq handed to the IM process is answered even if im dies before it
answers (review18p #3): the router keeps the iqs it handed over until im
answers each, and answers those left internal-server-error (type wait)
when its channel to im goes down; the restarted im serves the retry.
An iq im did answer is not answered twice."""

import asyncio
import os
import signal

import pytest

from test_roster import NS, get_roster, roster_iq
from xmpp import IqError, login, run


@pytest.fixture
def inode(node_factory):
    node = node_factory()
    node.add_user("alice", "alice-pw")
    return node.start()


def test_an_iq_handed_to_im_is_answered_when_im_dies(inode):
    im = inode.children()["im"]["pid"]

    async def scenario():
        a = await login(inode, "alice", "alice-pw")
        errors = []
        a.add_event_handler("iq_error", lambda iq: errors.append(iq["id"]))
        answered = await roster_iq(a, "get", f"<query xmlns='{NS}'/>").send(timeout=10)
        mark = inode.log_mark()
        os.kill(im, signal.SIGSTOP)
        try:
            futs = [asyncio.ensure_future(
                roster_iq(a, kind, body).send(timeout=20))
                for kind, body in (("get", f"<query xmlns='{NS}'/>"),
                                   ("set", f"<query xmlns='{NS}'><item "
                                           f"jid='bob@test.example'/></query>"))]
            await asyncio.sleep(1.0)  # the router has handed them over
        finally:
            os.kill(im, signal.SIGKILL)
            os.kill(im, signal.SIGCONT)
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: inode.wait_child_back("im", im))
        kinds = []
        for f in futs:
            try:
                kinds.append((await f)["type"])
            except IqError as e:
                kinds.append((e.iq["error"]["type"], e.iq["error"]["condition"]))
            except Exception as e:  # slixmpp's IqTimeout
                kinds.append(f"no answer ({type(e).__name__})")
        inode.wait_log(r"router\[\d+\]: im went away with 2 iqs unanswered", start=mark)
        # The new im serves the retry.
        again = await get_roster(a)
        await a.close()
        assert answered["type"] == "result"
        assert kinds == [("wait", "internal-server-error")] * 2, kinds
        # The get answered before im died is not answered again.
        assert answered["id"] not in errors
        assert again is not None

    run(scenario())
