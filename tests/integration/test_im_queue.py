# SPDX-License-Identifier: MIT
"""The IM process's queue is bounded while the elector is slow (here:
stopped with SIGSTOP, by PID) (review18p #5): a roster set's over-long
fields are refused as it is read, so a queued request holds a few KB
whatever the stanza's size; one account has at most 32 roster iqs
waiting (more are answered resource-constraint at once, and other users
still get in); and the deadline counts from each iq's arrival, so a
queue drains in one deadline, not one deadline per iq."""

import asyncio
import os
import signal
import time

import pytest

from test_roster import NS, roster_iq
from xmpp import IqError, login, run


@pytest.fixture
def inode(node_factory):
    node = node_factory()
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    # Under AddressSanitizer freed memory waits in a quarantine, which would
    # look like growth of im; without it the bound holds for both builds.
    return node.start(env=dict(os.environ, ASAN_OPTIONS="quarantine_size_mb=0"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def outcome(fut):
    try:
        return (await fut)["type"]
    except IqError as e:
        return (e.iq["error"]["type"], e.iq["error"]["condition"])
    except Exception as e:  # slixmpp's IqTimeout
        return f"no answer ({type(e).__name__})"


def test_queued_roster_sets_are_bounded_in_memory(inode):
    """150 sets with a 200 KiB name: ~217 KiB of im's memory each before
    (32 MiB in all), for sets that are all refused."""
    kids = inode.children()
    im, elector = kids["im"]["pid"], kids["elector"]["pid"]
    n = 150

    async def scenario():
        a = await login(inode, "alice", "alice-pw")
        before = rss_kib(im)
        os.kill(elector, signal.SIGSTOP)
        try:
            name = "x" * (200 * 1024)
            futs = [asyncio.ensure_future(
                roster_iq(a, "set", f"<query xmlns='{NS}'><item jid='c{i}@test.example' "
                                    f"name='{name}'/></query>").send(timeout=60))
                for i in range(n)]
            peak = 0
            for _ in range(20):  # 10 s
                peak = max(peak, rss_kib(im) - before)
                await asyncio.sleep(0.5)
        finally:
            os.kill(elector, signal.SIGCONT)
        answers = [await outcome(f) for f in futs]
        await a.close()
        print(f"im grew by {peak} KiB for {n} queued sets")
        assert peak < 8 * 1024, f"im holds {peak} KiB for {n} sets it will refuse"
        assert set(answers) <= {("modify", "not-acceptable"), ("wait", "resource-constraint")}, \
            set(answers)

    run(scenario(), timeout=200)


def test_one_account_cannot_fill_the_queue_and_the_queue_drains_in_one_deadline(inode):
    elector = inode.children()["elector"]["pid"]

    async def scenario():
        a = await login(inode, "alice", "alice-pw")
        b = await login(inode, "bob", "bob-pw")
        os.kill(elector, signal.SIGSTOP)
        try:
            start = time.monotonic()
            mine = [asyncio.ensure_future(
                roster_iq(a, "get", f"<query xmlns='{NS}'/>").send(timeout=30))
                for _ in range(40)]
            await asyncio.sleep(0.5)
            bobs = asyncio.ensure_future(
                roster_iq(b, "get", f"<query xmlns='{NS}'/>").send(timeout=30))
            alices = [await outcome(f) for f in mine]
            bob = await outcome(bobs)
            took = time.monotonic() - start
        finally:
            os.kill(elector, signal.SIGCONT)
        await a.close()
        await b.close()
        print("alice", alices, "bob", bob, f"in {took:.1f} s")
        # 32 of alice's wait (and one at work, unless it was still in
        # the queue when more came): the rest are refused at once
        refused = alices.count(("wait", "resource-constraint"))
        assert refused in (7, 8), alices
        assert alices.count(("wait", "internal-server-error")) == 40 - refused, alices
        # bob got in, and was answered with the rest, within the deadline
        # from arrival (10 s), not one deadline per iq queued before his
        assert bob == ("wait", "internal-server-error"), bob
        assert took < 20, took

    run(scenario(), timeout=200)
