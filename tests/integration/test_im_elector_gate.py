# SPDX-License-Identifier: MIT
"""Privilege separation between the IM process and the elector: im parses
clients' XML, so a flaw in it must not reach the cluster's accounts,
bridges or settings.  The elector takes from im only writes of users'
data (USERDATA_*); any other PROPOSE is refused with a log line and the
channel is closed (bad peer input).

To play a subverted im, the test makes the leader's real im send a
PROPOSE of USER_DEL through its own channel, with gdb (the process is
the test's own child, by PID)."""

import asyncio
import shutil
import subprocess
import time

import pytest

from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of
from test_roster import get_roster
from xmpp import login, run


def im_sends_propose(pid, command):
    """Calls child_send(PROC_ELECTOR, PROTO_PROPOSE, ...) inside im."""
    payload = len(command).to_bytes(4, "little") + bytes(4) + command
    sets = [f"set {{unsigned char}}($p+{i}) = {b}" for i, b in enumerate(payload)]
    script = ["set $p = (unsigned char *) malloc(%d)" % len(payload), *sets,
              "print (int) child_send(PROC_ELECTOR, PROTO_PROPOSE, 4242, $p, %d, -1)"
              % len(payload)]
    args = ["gdb", "-nx", "-batch", "-p", str(pid)]
    for line in script:
        args += ["-ex", line]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert "$1 = 0" in out.stdout, out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_the_elector_takes_from_im_only_users_data(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    for user in ("alice", "bob"):
        leader.ctl_input(["user", "add", user, "--stdin"], f"{user}-pw\n")
    wait_until(lambda: all("bob" in n.ctl("user", "list").stdout for n in nodes),
               what="alice and bob on every node")
    im = leader.children()["im"]["pid"]
    mark = leader.log_mark()
    # elector_machine.h: format 1, USER_DEL (3), str16 name.
    im_sends_propose(im, bytes([1, 3, 0, 5]) + b"alice")

    async def wake_im():
        # im's loop flushes what gdb queued when it next wakes: a roster
        # get wakes it (and im, back from its closed channel, answers).
        a = await login(leader, "bob", "bob-pw")
        try:
            await get_roster(a)
        except Exception:
            pass  # the answer may be internal-server-error: not the point
        await a.close()

    run(wake_im())
    leader.wait_log(r"elector\[\d+\]: im proposed a command that is not users' data "
                    r"\(operation 3\): refused", start=mark, timeout=15)
    time.sleep(2.0)  # a committed USER_DEL would have reached every node
    for n in nodes:
        assert "alice" in n.ctl("user", "list").stdout, "im deleted an account"
    # im serves rosters again (its channel to the elector made anew).

    async def roster_works():
        a = await login(leader, "alice", "alice-pw")
        deadline = time.monotonic() + 20
        while True:
            try:
                await get_roster(a)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        await a.close()

    run(roster_works())
