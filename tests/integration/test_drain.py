# SPDX-License-Identifier: MIT
"""rxmppctl drain and undrain on a three-node cluster with real clients and a
call bridge (slixmpp): while numbered messages flow both ways, every client
of the drained node is told <see-other-host/> naming another member's client
address and logs in there; the bridge is ended with <system-shutdown/> and
connects to another node (as DNS SRV would send it); every numbered message
is delivered or bounced to its sender, none lost; status and cluster status
show the draining node; drain returns when no session is left; a new stream
is redirected at once; undrain accepts again; the leader hands its
leadership over before it drains."""

import asyncio
import json
import re
import threading

from raw import HEADER, Raw
from rxmpp_node import wait_until
from test_cluster import BRIDGE_SECRET, add_bridges, add_users, form_cluster, leader_of
from xmpp import WAIT, Client, Component, run

USERS = [f"u{n}" for n in range(4)]
BRIDGE = "cb1.test.example"


def drain_cluster(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    add_users(nodes, {"sender": "sender-pw", **{user: f"{user}-pw" for user in USERS}})
    add_bridges(nodes, {"cb1": BRIDGE_SECRET})
    leader = leader_of(nodes)
    one, two = [n for n in nodes if n is not leader]
    return leader, one, two


class Followed:
    """One account's client across redirections.  slixmpp follows
    <see-other-host/> itself, but then checks the server's certificate
    against the host it was sent to (an address here, not the domain), so
    the test follows it as a client that keeps its domain would: it logs
    in again at the address named."""

    def __init__(self, user, resource, ca):
        self.user, self.resource, self.ca = user, resource, ca
        self.jid = f"{user}@test.example/{resource}"
        self.inbox = asyncio.Queue()
        self.redirects = []  # the see-other-host values, in order
        self.client = None
        self.up = False
        self.moved = asyncio.Event()

    async def connect(self, port):
        client = Client(self.jid, f"{self.user}-pw", self.ca)
        client.max_redirects = -1  # the test follows (see above)
        client.add_event_handler("message", self.inbox.put_nowait)
        # A bounce has no body: slixmpp raises message_error for it.
        client.add_event_handler("message_error", self.inbox.put_nowait)
        client.add_event_handler("stream_error", self._on_error)
        client.connect(address=("127.0.0.1", port))
        try:
            await asyncio.wait_for(client.started, WAIT)
        except BaseException:
            client.abort()
            raise
        self.client = client
        self.up = True

    def _on_error(self, error):
        self.up = False
        if error["condition"] == "see-other-host":
            self.redirects.append(error["see_other_host"])
            self.moved.set()

    def send(self, to, body):
        """True when written to the connection of an established session."""
        if not self.up:
            return False
        message = self.client.make_message(mto=to, mbody=body, mtype="chat")
        message["id"] = body
        return self.client.send_now(message)

    async def follow(self):
        await asyncio.wait_for(self.moved.wait(), 60)
        self.moved.clear()
        await asyncio.wait_for(self.client.gone, WAIT)
        port = int(self.redirects[-1].rsplit(":", 1)[1])
        await self.connect(port)
        return port


async def reach(sender, receiver, to=None):
    """Probes from `sender` (a Followed) until one reaches `receiver` (a
    Followed, or the inbox of a bridge at `to`)."""
    inbox = receiver if to is not None else receiver.inbox
    to = to or receiver.jid
    for n in range(60):
        sender.send(to, f"probe-{n}")
        try:
            while True:
                got = await asyncio.wait_for(inbox.get(), 0.5)
                if got["type"] != "error" and got["body"].startswith("probe"):
                    return
        except asyncio.TimeoutError:
            continue
    raise AssertionError(f"no probe reached {to}")


def bodies_and_bounces(messages):
    delivered, bounced = [], []
    for m in messages:
        if m["type"] == "error":
            bounced.append(m["id"])
        else:
            delivered.append(m["body"])
    return delivered, bounced


def drained_status(node):
    return json.loads(node.ctl("status", "--json").stdout)


def test_drain_moves_clients_and_a_bridge_to_other_members(node_factory, certs):
    leader, one, two = drain_cluster(node_factory, certs)
    ca = one.certs["ca"]
    others = {f"127.0.0.1:{leader.client_port}", f"127.0.0.1:{two.client_port}"}

    drain_result = {}

    # The nodes share one host here, so their client ports are named.
    to = ["--to", f"127.0.0.1:{leader.client_port}", "--to", f"127.0.0.1:{two.client_port}"]

    def drain():
        drain_result["r"] = one.ctl("drain", "--rate", "2", "--timeout", "60", *to,
                                    check=False)

    async def scenario():
        sender = Followed("sender", "s", ca)
        await sender.connect(two.client_port)
        users = [Followed(u, "r", ca) for u in USERS]
        for u in users:
            await u.connect(one.client_port)
        bridge = Component(BRIDGE, BRIDGE_SECRET, one.component_port, ca)
        bridge_inbox = asyncio.Queue()
        bridge.add_event_handler("message", bridge_inbox.put_nowait)
        bridge.connect(use_ssl=True)
        await asyncio.wait_for(bridge.started, WAIT)
        bridge_errors = []
        bridge.add_event_handler("stream_error", bridge_errors.append)

        # Every user reaches the sender and back before the count starts:
        # the leader knows every session then.
        for u in users:
            await reach(sender, u)
            await reach(u, sender)
        bridge.send_message(mto=sender.jid, mfrom=f"conf@{BRIDGE}", mbody="probe-bridge",
                            mtype="chat")
        await reach(sender, bridge_inbox, BRIDGE)
        await asyncio.sleep(0.5)
        for q in [sender.inbox, bridge_inbox] + [u.inbox for u in users]:
            while not q.empty():
                q.get_nowait()

        sent_to_users = {u.user: [] for u in users}
        sent_by_users = {u.user: [] for u in users}
        sent_to_bridge = []
        sent_by_bridge = []
        bridge_up = [True]

        def on_bridge_gone(event):
            bridge_up[0] = False

        bridge.add_event_handler("stream_error", on_bridge_gone)
        bridge.add_event_handler("disconnected", on_bridge_gone)

        drainer = threading.Thread(target=drain)
        stop = asyncio.Event()

        async def traffic():
            k = 0
            while not stop.is_set() and k < 2000:
                for u in users:
                    body = f"to-{u.user}-{k}"
                    if sender.send(u.jid, body):
                        sent_to_users[u.user].append(body)
                    body = f"from-{u.user}-{k}"
                    if u.send(sender.jid, body):
                        sent_by_users[u.user].append(body)
                body = f"to-bridge-{k}"
                if sender.send(BRIDGE, body):
                    sent_to_bridge.append(body)
                if bridge_up[0]:
                    body = f"from-bridge-{k}"
                    m = bridge.make_message(mto=sender.jid, mfrom=f"conf@{BRIDGE}", mbody=body,
                                            mtype="chat")
                    m["id"] = body
                    if bridge.send_now(m):
                        sent_by_bridge.append(body)
                k += 1
                await asyncio.sleep(0.02)

        flow = asyncio.ensure_future(traffic())
        await asyncio.sleep(0.5)
        drainer.start()
        # While it drains, status and cluster status say so.
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: wait_until(lambda: drained_status(one)["draining"], what="draining"))
        cluster = json.loads(one.ctl("cluster", "status", "--json").stdout)
        assert cluster["draining"] is True
        assert "DRAINING" in one.ctl("status").stdout

        # Each client is sent to another member and logs in there.
        ports = await asyncio.gather(*(u.follow() for u in users))
        for u in users:
            assert len(u.redirects) == 1 and u.redirects[0] in others, u.redirects
        assert set(ports) == {leader.client_port, two.client_port}  # spread over both

        # The bridge is ended cleanly and connects to another node, as its
        # SRV records would send it.
        await asyncio.wait_for(bridge.gone, 60)
        assert [e["condition"] for e in bridge_errors] == ["system-shutdown"]
        bridge2 = Component(BRIDGE, BRIDGE_SECRET, two.component_port, ca)
        bridge2.add_event_handler("message", bridge_inbox.put_nowait)
        bridge2.connect(use_ssl=True)
        await asyncio.wait_for(bridge2.started, WAIT)

        # A new stream on the drained node is sent elsewhere at once.
        raw = Raw(one.client_port, ca)
        raw.send(HEADER)
        said = raw.read_to_end().decode()
        assert re.search(r"<see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>"
                         r"127\.0\.0\.1:(\d+)</see-other-host>", said), said
        assert int(re.search(r"127\.0\.0\.1:(\d+)<", said).group(1)) != one.client_port

        await asyncio.get_event_loop().run_in_executor(None, drainer.join, 90)
        await asyncio.sleep(1.0)  # traffic on the new sessions
        stop.set()
        await flow
        await asyncio.sleep(3.0)  # what is on its way arrives

        got_by_sender = []
        while not sender.inbox.empty():
            got_by_sender.append(sender.inbox.get_nowait())
        delivered_to_sender, bounced_to_sender = bodies_and_bounces(got_by_sender)
        lost = []
        for u in users:
            got = []
            while not u.inbox.empty():
                got.append(u.inbox.get_nowait())
            delivered, _ = bodies_and_bounces(got)
            for body in sent_to_users[u.user]:
                n = delivered.count(body) + bounced_to_sender.count(body)
                if n != 1:
                    lost.append((body, n))
            for body in sent_by_users[u.user]:
                if delivered_to_sender.count(body) != 1:
                    lost.append((body, delivered_to_sender.count(body)))
        got_by_bridge = []
        while not bridge_inbox.empty():
            got_by_bridge.append(bridge_inbox.get_nowait()["body"])
        for body in sent_to_bridge:
            n = got_by_bridge.count(body) + bounced_to_sender.count(body)
            if n != 1:
                lost.append((body, n))
        for body in sent_by_bridge:
            if delivered_to_sender.count(body) != 1:
                lost.append((body, delivered_to_sender.count(body)))
        total = sum(map(len, sent_to_users.values())) + sum(map(len, sent_by_users.values())) \
            + len(sent_to_bridge) + len(sent_by_bridge)
        print(f"{total} numbered messages, {len(bounced_to_sender)} bounced to their sender, "
              f"redirected to ports {sorted(ports)}")
        if lost:
            for node, name in ((one, "drained"), (two, "two"), (leader, "leader")):
                with node.lock:
                    lines = [ln for ln in node.lines if "u0" in ln or "drain" in ln
                             or "again" in ln or "warn" in ln.lower()]
                print(f"--- {name}\n" + "\n".join(lines[-60:]))
        assert not lost, lost[:40]

        for peer in [sender.client, bridge2] + [u.client for u in users]:
            await peer.close()

    run(scenario(), timeout=240)
    result = drain_result["r"]
    assert result.returncode == 0, result.stderr
    assert "drained: no sessions left on this node" in result.stdout
    assert re.search(r"\d+ clients, \d+ call bridges left", result.stdout)  # progress
    status = drained_status(one)
    assert status["draining"] is True and status["sessions"] == 0

    # Draining survives a reload.
    one.ctl("reload")
    assert drained_status(one)["draining"] is True

    # undrain: clients log in here again.
    assert "no longer draining" in one.ctl("undrain").stdout
    assert drained_status(one)["draining"] is False

    async def back():
        again = Followed("u0", "back", ca)
        await again.connect(one.client_port)
        await again.client.close()

    run(back())


def test_drain_without_wait_and_timeout(node_factory, certs):
    """Where the other members' client ports cannot be told (one host), drain
    asks for --to; --no-wait returns at once; a timeout that passes with
    sessions left says so and leaves the node draining."""
    leader, one, two = drain_cluster(node_factory, certs)
    ca = one.certs["ca"]
    to = ["--to", f"127.0.0.1:{two.client_port}"]

    refused = one.ctl("drain", "--no-wait", check=False)
    assert refused.returncode == 1
    assert "shares this node's host" in refused.stderr and "--to HOST:PORT" in refused.stderr
    assert drained_status(one)["draining"] is False

    async def scenario():
        # At one a second, the second session is still here at the
        # one-second timeout whatever the first step did.
        users = [Followed(u, "r", ca) for u in ("u0", "u1")]
        for u in users:
            await u.connect(one.client_port)
        out = await asyncio.get_event_loop().run_in_executor(
            None, lambda: one.ctl("drain", "--rate", "1", "--timeout", "1", *to, check=False))
        assert out.returncode == 1, out.stderr
        assert "the node stays draining" in out.stderr
        assert drained_status(one)["draining"] is True
        for u in users:
            assert await u.follow() == two.client_port
            await u.client.close()

    run(scenario())
    assert "no longer draining" in one.ctl("undrain").stdout
    # A follower now (an election on a loaded machine may have moved the
    # leadership meanwhile); the other follower is where it sends clients.
    nodes = [leader, one, two]
    now_leader = wait_until(lambda: leader_of(nodes), what="a leader")
    follower, other = [n for n in nodes if n is not now_leader]
    out = follower.ctl("drain", "--no-wait", "--to", f"127.0.0.1:{other.client_port}")
    assert f"draining: new streams and 50 sessions a second are sent to 127.0.0.1:" \
           f"{other.client_port}" in out.stdout
    assert drained_status(follower)["draining"] is True
    follower.ctl("undrain")

    # The leader hands its leadership over first, then drains.
    out = now_leader.ctl("drain", "--no-wait", "--to", f"127.0.0.1:{follower.client_port}")
    assert "leadership handed over: " in out.stdout, out.stdout
    print(out.stdout)
    assert "draining: new streams" in out.stdout
    new_leader = wait_until(lambda: leader_of(nodes), what="a leader")
    assert new_leader is not now_leader
    assert drained_status(now_leader)["draining"] is True
    assert json.loads(now_leader.ctl("cluster", "status", "--json").stdout)["state"] != "LEADER"
    now_leader.ctl("undrain")
