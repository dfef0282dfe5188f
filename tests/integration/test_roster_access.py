# SPDX-License-Identifier: MIT
"""Who may read or change a roster (RFC 6121 2.3.3): only the user's own
client sessions.  A call bridge (component) may send from any JID of its
own domain, e.g. alice@cb1.test.example; its roster iqs are refused with
`forbidden`, never handed to the IM process (which would take the
localpart as the account; im takes only this domain's JIDs as accounts,
so a bridge's subscription request changes nobody's roster either), and a client's roster iq to another user's
bare JID is refused the same way."""

import asyncio
import xml.etree.ElementTree as ET

import pytest

from test_roster import NS, get_roster, items, roster_iq
from xmpp import IqError, connect_bridge, login, run

SECRET = "s3cret-for-cb1-bridge"


@pytest.fixture
def inode(node_factory):
    node = node_factory()
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    node.write_bridges({"cb1": SECRET})
    return node.start()


async def condition_of(iq):
    """'result', or the error's condition."""
    try:
        return (await iq.send(timeout=10))["type"]
    except IqError as e:
        # Read from the XML: slixmpp's error plugin does not know the
        # component's namespace (jabber:component:accept).
        conditions = [c.tag.split("}")[1] for c in e.iq.xml.iter()
                      if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}")
                      and not c.tag.endswith("}text")]
        return conditions[0] if conditions else "?"


def test_a_call_bridge_can_neither_write_nor_read_a_users_roster(inode):
    async def scenario():
        alice = await login(inode, "alice", "alice-pw")
        assert (await roster_iq(alice, "set", f"<query xmlns='{NS}'><item "
                                f"jid='carol@test.example' name='Carol'/></query>")
                .send(timeout=10))["type"] == "result"
        bridge = await connect_bridge(inode, "cb1", SECRET)
        got = {}
        for kind, body in (("set", f"<query xmlns='{NS}'><item jid='mallory@test.example' "
                                   f"name='planted by a bridge'/></query>"),
                           ("get", f"<query xmlns='{NS}'/>")):
            # A component's stanza always has a 'to' (listener_component.c).
            for to in ("alice@cb1.test.example", "alice@test.example"):
                iq = bridge.Iq()
                iq["type"] = kind
                iq["from"] = "alice@cb1.test.example"
                iq["to"] = to
                iq.append(ET.fromstring(body))
                got[(kind, to)] = await condition_of(iq)
        # A subscription request in her name changes no roster of hers
        # (im takes only this domain's JIDs as accounts).
        bridge.send_presence(pto="bob@test.example", pfrom="alice@cb1.test.example",
                             ptype="subscribe")
        ping = bridge.Iq()
        ping["type"] = "get"
        ping["from"] = "alice@cb1.test.example"
        ping["to"] = "test.example"
        ping.append(ET.fromstring("<ping xmlns='urn:xmpp:ping'/>"))
        await ping.send(timeout=10)  # the presence went before it
        await asyncio.sleep(1.0)  # im handles it after the router
        roster = items(await get_roster(alice))
        await alice.close()
        await bridge.close()
        assert set(got.values()) == {"forbidden"}, got
        assert list(roster) == ["carol@test.example"], roster

    run(scenario())


def test_a_roster_iq_to_another_users_bare_jid_is_forbidden(inode):
    async def scenario():
        alice = await login(inode, "alice", "alice-pw")
        bob = await login(inode, "bob", "bob-pw")
        got = {}
        for kind, body in (("get", f"<query xmlns='{NS}'/>"),
                           ("set", f"<query xmlns='{NS}'><item jid='x@test.example'/></query>")):
            iq = roster_iq(alice, kind, body)
            iq["to"] = "bob@test.example"
            got[kind] = await condition_of(iq)
        bob_roster = items(await get_roster(bob))
        await alice.close()
        await bob.close()
        assert got == {"get": "forbidden", "set": "forbidden"}, got
        assert bob_roster == {}, bob_roster

    run(scenario())
