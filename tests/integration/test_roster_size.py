# SPDX-License-Identifier: MIT
"""A roster is always sent whole (review18p #2).  The store's quota (1000
items, 1 MiB stored) allows more XML than one answer can carry (escaping
makes '&' five bytes), and the answer used to be cut short: the listener
ended the session at each roster get.  Now a set that would make the
roster's XML longer than an answer carries (IM_ROSTERIQ_ITEMS_MAX, 480
KiB of items) is refused with resource-constraint, and a get returns
every item."""

import pytest

from test_roster import NS, get_roster, items, roster_iq
from xmpp import IqError, login, run


@pytest.fixture
def inode(node_factory):
    node = node_factory()
    node.add_user("alice", "alice-pw")
    return node.start()


def test_a_roster_within_its_bounds_is_answered_whole(inode):
    # 130 items named with 1000 '&' each: 130 KB stored, far within the
    # quota, ~650 KB of XML.
    name = "&amp;" * 1000

    async def scenario():
        a = await login(inode, "alice", "alice-pw")
        accepted, refused = 0, None
        for i in range(130):
            body = f"<query xmlns='{NS}'><item jid='c{i}@test.example' name='{name}'/></query>"
            try:
                await roster_iq(a, "set", body).send(timeout=20)
                accepted += 1
            except IqError as e:
                refused = (e.iq["error"]["type"], e.iq["error"]["condition"])
                break
        got = items(await get_roster(a))
        # the session goes on: a second get, and a removal still pass
        body = f"<query xmlns='{NS}'><item jid='c0@test.example' subscription='remove'/></query>"
        removed = (await roster_iq(a, "set", body).send(timeout=20))["type"]
        again = items(await get_roster(a))
        await a.close()
        print("accepted", accepted, "refused", refused)
        assert refused == ("cancel", "resource-constraint"), refused
        # 480 KiB of items of ~5,060 bytes of XML each
        assert 90 <= accepted <= 100, accepted
        assert len(got) == accepted and all(v[0] == "&" * 1000 for v in got.values())
        assert removed == "result" and len(again) == accepted - 1

    run(scenario(), timeout=300)
