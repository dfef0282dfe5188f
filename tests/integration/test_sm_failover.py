# SPDX-License-Identifier: MIT
"""XEP-0198 resumption on another node after the node that held the session
died (kill -9 of all its processes): three real nodes, client B on one of
them, client A on another and call bridge C on a third; numbered messages
flow both ways between B and A and between B and C while B's node is
killed; B reconnects to a survivor, resumes there with the id it had, sends
again what the resumption says the server had not handled (as XEP-0198
clients do), and every message arrives exactly once and in order, in both
directions.  B is a hand-written stream-management client (raw sockets,
every byte seen), so that what it acknowledges and sends again is exact.

The leader keeps the sessions of followers (router/router_keep.h), a
follower the leader's: with B on the leader, the follower that kept its
session either leads next or hands it to the next leader, and the test
says which.  Then a session that waits while the leader hands its leadership over:
the old leader hands it to the new one.  Last, a session whose client
never comes back: the leader returns what it kept to its senders when
resume_timeout ends."""

import asyncio
import os
import re
import signal
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from raw import Raw
from rxmpp_node import wait_until
from test_cluster import BRIDGE_SECRET, cluster_with_accounts, kill_node, until_reachable
from test_offline import offline_count

SM = "urn:xmpp:sm:3"
CLIENT = "jabber:client"
ROOT = (b"<stream:stream xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams'>")


class SmClient:
    """A client that enables resumable stream management, counts what it
    handles, answers <r/>, keeps what it sent until acknowledged, and
    resumes with a <resume/> on any node."""

    def __init__(self, ca, user, password, resource):
        self.ca, self.user, self.password = ca, user, password
        self.jid = f"{user}@test.example/{resource}"
        self.resource = resource
        self.lock = threading.Lock()
        self.handled = 0          # stanzas received (our h)
        self.acked = 0            # the server's last h
        self.unacked = []         # (number, bytes) sent and not acknowledged
        self.sent = 0
        self.received = []        # (from, body, type) of messages
        self.raw = None
        self.reader = None
        self.id = None
        self.max = None

    def _parse_start(self, leftover):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self._feed(ROOT + leftover)

    def _feed(self, data):
        self.parser.feed(data)
        for event, element in self.parser.read_events():
            if event == "start":
                self.depth += 1
                continue
            self.depth -= 1
            if self.depth == 1:  # a child of the stream
                self._element(element)

    def _element(self, element):
        tag = element.tag
        if tag == f"{{{SM}}}r":
            with self.lock:
                self._write(f"<a xmlns='{SM}' h='{self.handled}'/>".encode())
        elif tag == f"{{{SM}}}a":
            self._acknowledged(int(element.get("h")))
        elif tag.startswith(f"{{{CLIENT}}}"):
            with self.lock:
                self.handled += 1
            if tag == f"{{{CLIENT}}}message":
                body = element.find(f"{{{CLIENT}}}body")
                self.received.append((element.get("from"), body.text if body is not None
                                      else None, element.get("type")))

    def _acknowledged(self, h):
        with self.lock:
            assert h >= self.acked, f"the server's h went back from {self.acked} to {h}"
            self.acked = h
            self.unacked = [(n, data) for n, data in self.unacked if n > h]

    def _write(self, data):
        try:
            self.raw.send(data)
        except OSError:
            pass  # the connection is gone: kept, sent again on resumption

    def _read(self):
        raw = self.raw
        while True:
            try:
                chunk = raw.sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            self._feed(chunk)

    def _start_reader(self, leftover):
        self._parse_start(leftover)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def connect(self, node):
        self.raw = Raw(node.client_port, self.ca, timeout=30)
        self.raw.login(self.user, self.password, resource=self.resource)
        self.raw.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
        self.raw.read_until(b"<enabled")
        enabled = self.raw.read_until(b"/>").decode()
        self.id = re.search(r"id='([0-9a-f]+)'", enabled).group(1)
        self.max = int(re.search(r"max='(\d+)'", enabled).group(1))
        self.raw.send(b"<presence/>")
        self.sent = 1
        self.unacked = [(1, b"<presence/>")]
        self.raw.sock.settimeout(None)
        leftover, self.raw.received = self.raw.received, b""
        self._start_reader(leftover)

    def send(self, to, body):
        with self.lock:
            self.sent += 1
            data = (f"<message to='{to}' type='chat' id='m{self.sent}'>"
                    f"<body>{body}</body></message>").encode()
            self.unacked.append((self.sent, data))
            self._write(data)
            if self.sent % 5 == 0:
                self._write(f"<r xmlns='{SM}'/>".encode())

    def request(self):
        with self.lock:
            self._write(f"<r xmlns='{SM}'/>".encode())

    def gone(self):
        return not self.reader.is_alive()

    def resume(self, node):
        """On `node`: <resumed h/>, then what was not handled goes again."""
        self.reader.join(10)
        self.raw.close()
        self.raw = Raw(node.client_port, self.ca, timeout=30)
        self.raw.authenticate(self.user, self.password)
        self.raw.send(f"<resume xmlns='{SM}' previd='{self.id}' h='{self.handled}'/>".encode())
        answer = self.raw.read_until(b"/>")
        if b"<failed" in answer:
            raise AssertionError(f"resumption refused: {answer!r} {self.raw.received[:200]!r}")
        h = int(re.search(rb"h='(\d+)'", answer).group(1))
        self._acknowledged(h)
        self.raw.sock.settimeout(None)
        leftover, self.raw.received = self.raw.received, b""
        self._start_reader(leftover)
        with self.lock:
            for _, data in self.unacked:
                self._write(data)
            self._write(f"<r xmlns='{SM}'/>".encode())
        return h

    def close(self):
        self.raw.close()


def keeper_ready(survivors, marks):
    """After the leader died: a new leader, where B's session waits (the
    follower that kept it leads, or handed it over, and its holder did not
    link to the new leader)."""
    from test_cluster import leader_of

    new = wait_until(lambda: leader_of(survivors), timeout=20, what="a new leader")
    mark = marks[survivors.index(new)]
    new.wait_log(r"1 client sessions kept here wait to be resumed", start=mark, timeout=20)
    other = survivors[1 - survivors.index(new)]
    if any("client sessions kept here handed to the new leader" in line
           for line in other.lines[marks[survivors.index(other)]:]):
        return "the follower that kept B's session handed it to the new leader"
    return "the follower that kept B's session leads now"


def bodies(messages, prefix):
    return [body for _, body, _ in messages if body is not None and body.startswith(prefix)]


def numbered(prefix, count):
    return [f"{prefix}{n}" for n in range(count)]


def run_failover(node_factory, certs, b_on_leader, resume_on_leader):
    from xmpp import connect_bridge, login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)
    if b_on_leader:
        b_node, a_node, c_node = leader, one, two
        survivor = two
    else:
        b_node, a_node, c_node = one, two, leader
        survivor = leader if resume_on_leader else two
    count = 60
    kill_at = count // 3
    b = SmClient(b_node.certs["ca"], "bob", "bob-pw", "b")

    async def scenario():
        loop = asyncio.get_event_loop()
        alice = await login(a_node, "alice", "alice-pw", resource="a")
        bridge = await connect_bridge(c_node, "cb1", BRIDGE_SECRET)
        await loop.run_in_executor(None, b.connect, b_node)
        probe = await login(b_node, "bob", "bob-pw", resource="probe")
        await until_reachable(alice, probe, "bob@test.example/probe")
        await until_reachable(probe, alice, "alice@test.example/a")
        await probe.close()
        # What alice and the bridge get from B, in order of arrival.
        from_b = {"alice": [], "bridge": []}

        async def collect(peer, name):
            while True:
                message = await peer.inbox.get()
                if message["body"].startswith("b"):
                    from_b[name].append(message["body"])

        collectors = [asyncio.ensure_future(collect(alice, "alice")),
                      asyncio.ensure_future(collect(bridge, "bridge"))]
        # Everyone is reachable: the first message of each flow arrives.
        for n in range(count):
            alice.send_message(mto=b.jid, mbody=f"a{n}", mtype="chat")
            bridge.send_message(mto=b.jid, mfrom="conf@cb1.test.example", mbody=f"c{n}",
                                mtype="chat")
            b.send("alice@test.example/a", f"ba{n}")
            b.send("cb1.test.example", f"bc{n}")
            await asyncio.sleep(0.02)
            if n == kill_at:
                mark = leader.log_mark()
                marks = [a_node.log_mark(), c_node.log_mark()]
                await loop.run_in_executor(None, kill_node, b_node)
            if n == kill_at + 10:
                # Ten more each way went meanwhile: A's and C's are held for
                # B, B's wait in its queue (it writes to a dead connection).
                await loop.run_in_executor(
                    None, lambda: wait_until(b.gone, timeout=10, what="B's connection to end"))
                if not b_on_leader:
                    # The leader heard the node go: its sessions wait for B.
                    await loop.run_in_executor(None, lambda: leader.wait_log(
                        r"lost: 1 client sessions kept here wait to be resumed", start=mark,
                        timeout=20))
                else:
                    print(await loop.run_in_executor(None, keeper_ready, [a_node, c_node],
                                                     marks))
                try:
                    h = await loop.run_in_executor(None, b.resume, survivor)
                except AssertionError:
                    for node in (leader, survivor):
                        print("\n".join(l for l in node.lines if "router" in l)[-6000:])
                    raise
                print(f"resumed on the survivor with h={h} after {b.handled} received")
        expected_b = numbered("a", count) + numbered("c", count)

        def arrived():
            b.request()
            return (len(bodies(b.received, "a")) >= count and len(bodies(b.received, "c")) >= count
                    and len(from_b["alice"]) >= count and len(from_b["bridge"]) >= count)

        try:
            await loop.run_in_executor(None, lambda: wait_until(arrived, timeout=30, interval=0.5,
                                                                what="every message"))
        except AssertionError:
            print("B got", len(b.received), b.received[:5], "alice", from_b["alice"][:5],
                  "bridge", from_b["bridge"][:5], "acked", b.acked, "sent", b.sent)
            for node in (leader, survivor):
                print("\n".join(l for l in node.lines if "router" in l or "listener" in l)[-5000:])
            raise
        # Nothing more comes: no duplicate is on its way.
        await asyncio.sleep(1.0)
        assert bodies(b.received, "a") == numbered("a", count)
        assert bodies(b.received, "c") == numbered("c", count)
        assert from_b["alice"] == numbered("ba", count), from_b["alice"][:30]
        assert from_b["bridge"] == numbered("bc", count), from_b["bridge"][:30]
        errors = [m for m in b.received if m[2] == "error"]
        assert errors == [], errors
        assert len(expected_b) == 2 * count
        # Everything B sent is acknowledged in the end.
        await loop.run_in_executor(None, lambda: wait_until(
            lambda: (b.request(), b.acked == b.sent)[1], timeout=20, interval=0.5,
            what="B's stanzas all acknowledged"))
        for task in collectors:
            task.cancel()
        b.close()
        await alice.close()
        await bridge.close()

    run(scenario(), timeout=240)


@pytest.mark.parametrize("run_number", [1, 2, 3])
def test_b_resumes_on_the_other_follower_after_its_node_is_killed(node_factory, certs,
                                                                   run_number):
    run_failover(node_factory, certs, b_on_leader=False, resume_on_leader=False)


def test_b_resumes_on_the_leader_after_its_node_is_killed(node_factory, certs):
    run_failover(node_factory, certs, b_on_leader=False, resume_on_leader=True)


def test_b_resumes_after_its_node_the_leader_is_killed(node_factory, certs):
    run_failover(node_factory, certs, b_on_leader=True, resume_on_leader=False)


def test_a_crowd_resuming_at_once_on_a_follower_all_resume(node_factory, certs):
    """A dead node's clients all come back within a second, and those that
    resume on a follower wait there for the leader's answer together: 70 of
    them, all asking while the leader's router is stopped (SIGSTOP), all
    resume once it runs again.  A follower once let only 64 questions wait
    and refused the others with item-not-found (found by make bench's SM
    failover: clients that then bound afresh, losing and repeating
    messages)."""
    leader, one, two = cluster_with_accounts(node_factory, certs)
    crowd = 70
    clients = [SmClient(one.certs["ca"], user, f"{user}-pw", f"c{n}")
               for n in range(crowd) for user in ["alice" if n % 2 else "bob"]]
    for client in clients:
        client.connect(one)
    mark = leader.log_mark()
    kill_node(one)
    leader.wait_log(rf"lost: {crowd} client sessions kept here wait to be resumed", start=mark,
                    timeout=20)
    router = next(p["pid"] for p in leader.status()["processes"] if p["name"] == "router")
    asked = []

    def ask(client):
        client.reader.join(10)
        client.raw.close()
        client.raw = Raw(two.client_port, client.ca, timeout=30)
        client.raw.authenticate(client.user, client.password)
        client.raw.send(f"<resume xmlns='{SM}' previd='{client.id}' "
                        f"h='{client.handled}'/>".encode())
        asked.append(client)

    os.kill(router, signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=ask, args=(c,), daemon=True) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(asked) == crowd
        # Every question reaches the follower's router and waits there.
        time.sleep(1)
    finally:
        os.kill(router, signal.SIGCONT)
    answers = [c.raw.read_until(b"/>") for c in clients]
    refused = [a for a in answers if b"<resumed" not in a]
    assert refused == [], f"{len(refused)} of {crowd} refused: {refused[0]!r}"
    for client in clients:
        client.close()


def test_a_resumption_cut_before_the_answer_can_be_asked_again(node_factory, certs):
    """B's node dies; B asks a survivor to resume, and its connection goes
    before the leader answers (the leader's router is stopped meanwhile, as
    a loaded leader is slow; clients on a crowded machine time out).  B
    asks again on the same survivor: it should resume, with every message
    once.  Found by the SM failover with 10,000 clients on the shared
    machine, where resumptions were cut by connection-timeout."""
    leader, one, two = cluster_with_accounts(node_factory, certs)
    a = SmClient(two.certs["ca"], "alice", "alice-pw", "a")
    a.connect(two)
    b = SmClient(one.certs["ca"], "bob", "bob-pw", "b")
    b.connect(one)
    time.sleep(0.5)
    for n in range(3):
        a.send(b.jid, f"x{n}")
    wait_until(lambda: len(bodies(b.received, "x")) == 3, timeout=10, what="the first three")
    mark = leader.log_mark()
    kill_node(one)
    leader.wait_log(r"lost: 1 client sessions kept here wait to be resumed", start=mark,
                    timeout=20)
    for n in range(3, 6):
        a.send(b.jid, f"x{n}")
    router = next(p["pid"] for p in leader.status()["processes"] if p["name"] == "router")
    b.reader.join(10)
    b.raw.close()
    mark = two.log_mark()
    os.kill(router, signal.SIGSTOP)
    try:
        cut = Raw(two.client_port, b.ca, timeout=30)
        cut.authenticate(b.user, b.password)
        cut.send(f"<resume xmlns='{SM}' previd='{b.id}' h='{b.handled}'/>".encode())
        time.sleep(0.3)
        cut.close()
        time.sleep(1)
    finally:
        os.kill(router, signal.SIGCONT)
    # The answer comes for a connection that is gone: the session waits there.
    two.wait_log(r"client session bob@test\.example/b was resumed from what the cluster kept "
                 r"for a connection that went before the answer", start=mark, timeout=10)
    b.resume(two)
    for n in range(6, 9):
        a.send(b.jid, f"x{n}")
    wait_until(lambda: len(bodies(b.received, "x")) >= 9, timeout=10, what="every message")
    time.sleep(1)
    assert bodies(b.received, "x") == [f"x{n}" for n in range(9)]


def bob_kept_on_a_follower(node_factory, certs):
    """Three nodes with a 3 s resumption window; bob/b on a follower has
    enabled resumption.  Returns the leader, bob's node, the other
    follower, bob's connection and his session's id."""
    from test_cluster import form_cluster, leader_of, with_accounts

    nodes = form_cluster(node_factory, certs,
                         extra="stream_management:\n  resume_timeout: 3s\n")
    with_accounts(nodes)
    leader = leader_of(nodes)
    one, two = [n for n in nodes if n is not leader]
    bob = Raw(one.client_port, one.certs["ca"])
    bob.login("bob", "bob-pw", resource="b")
    bob.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    bob.read_until(b"<enabled")
    previd = re.search(rb"id='([0-9a-f]+)'", bob.read_until(b"/>")).group(1).decode()
    return leader, one, two, bob, previd


async def alice_watching_her_errors(one, two):
    """alice/a on `two`, once a message reaches bob on `one`; and the queue
    of the errors she is sent."""
    from xmpp import login

    alice = await login(two, "alice", "alice-pw", resource="a")
    probe = await login(one, "bob", "bob-pw", resource="probe")
    await until_reachable(alice, probe, "bob@test.example/probe")
    await probe.close()
    errors = asyncio.Queue()
    alice.add_event_handler("message_error", errors.put_nowait)
    return alice, errors


def send_to_bob(alice, prefix):
    for n in range(3):
        message = alice.make_message(mto="bob@test.example/b", mbody=f"{prefix}{n}",
                                     mtype="chat")
        message["id"] = f"{prefix}{n}"
        message.send()


async def bob_read_then_his_node_killed(leader, one, bob):
    """bob reads before0-2 (acknowledging nothing); his node is killed and
    the leader keeps his session.  Returns the leader's log mark from before
    the kill."""
    loop = asyncio.get_event_loop()
    await loop.run_in_executor(None, bob.read_until, b"before2")
    mark = leader.log_mark()
    await loop.run_in_executor(None, kill_node, one)
    await loop.run_in_executor(None, lambda: leader.wait_log(
        r"lost: 1 client sessions kept here wait to be resumed", start=mark, timeout=20))
    return mark


async def before_and_held_stored(errors, node):
    """Each of before0-2 and held0-2 is stored offline for bob, who has no
    resource left (RFC 6121 8.5.3.2.1), and nothing comes back to alice."""
    await asyncio.get_event_loop().run_in_executor(None, lambda: wait_until(
        lambda: offline_count(node, "bob") == 6, timeout=30, what="the 6 stored offline"))
    await asyncio.sleep(0.5)
    assert errors.empty()


def assert_id_forgotten(node, previd):
    late = Raw(node.client_port, node.certs["ca"])
    try:
        late.authenticate("bob", "bob-pw")
        late.send(f"<resume xmlns='{SM}' previd='{previd}' h='0'/>".encode())
        assert b"<item-not-found" in late.read_until(b"</failed>")
    finally:
        late.close()


def test_a_resumption_cut_before_the_answer_and_never_asked_again_stores_what_was_kept(
        node_factory, certs):
    """As above, but B does not come back after its resumption was cut: the
    session waits on the node it was asked on for what was left of its
    resume_timeout (not a whole one again), and when that ends there, what
    was kept for B -- what it had read and not acknowledged, and
    what came while it was away -- is routed again and stored offline (B
    has no resource left); the id is forgotten (item-not-found)."""
    from xmpp import run

    leader, one, two, bob, previd = bob_kept_on_a_follower(node_factory, certs)

    async def scenario():
        loop = asyncio.get_event_loop()
        alice, errors = await alice_watching_her_errors(one, two)
        send_to_bob(alice, "before")
        await bob_read_then_his_node_killed(leader, one, bob)
        send_to_bob(alice, "held")
        await asyncio.sleep(0.5)  # held by the leader before its router stops
        router = next(p["pid"] for p in leader.status()["processes"] if p["name"] == "router")
        here = two.log_mark()
        os.kill(router, signal.SIGSTOP)
        try:
            cut = Raw(two.client_port, two.certs["ca"], timeout=30)
            cut.authenticate("bob", "bob-pw")
            cut.send(f"<resume xmlns='{SM}' previd='{previd}' h='0'/>".encode())
            await asyncio.sleep(0.3)
            cut.close()
            await asyncio.sleep(1)
        finally:
            os.kill(router, signal.SIGCONT)
        line = await loop.run_in_executor(None, lambda: two.wait_log(
            r"client session bob@test\.example/b was resumed from what the cluster kept for a "
            r"connection that went before the answer: it waits here", start=here, timeout=10))
        # For what was left of its 3 s (1.8 s at least went since its node
        # was lost), not a whole window again: asking and going cannot
        # stretch a session's wait.
        left = int(re.search(r"for the (\d+) ms left of its 3 s", line).group(1))
        assert 100 <= left <= 2000, line
        await before_and_held_stored(errors, two)
        await loop.run_in_executor(None, lambda: two.wait_log(
            r"client session bob@test\.example/b ended without its connection: not resumed "
            r"within 3 s; 6 stanzas returned", start=here))
        await alice.close()

    try:
        run(scenario())
        assert_id_forgotten(two, previd)
    finally:
        bob.close()


def test_a_session_resumed_with_stanzas_to_replay_survives_its_new_node_too(node_factory,
                                                                            certs):
    """Five nodes (two may be lost, one after the other).  B's node dies;
    B resumes on a follower and is given the six messages it had not
    acknowledged; that follower dies too: the leader still keeps B's
    session (the new holder's report of the six it was given changes
    nothing there), and B resumes on a third follower with every message
    once and in order."""
    from test_cluster import form_cluster, leader_of, with_accounts

    nodes = form_cluster(node_factory, certs, size=5)
    with_accounts(nodes)
    leader = leader_of(nodes)
    one, two, three, _ = [n for n in nodes if n is not leader]
    a = SmClient(leader.certs["ca"], "alice", "alice-pw", "a")
    a.connect(leader)
    b = SmClient(one.certs["ca"], "bob", "bob-pw", "b")
    b.connect(one)
    time.sleep(0.5)
    for n in range(3):
        a.send(b.jid, f"x{n}")
    wait_until(lambda: len(bodies(b.received, "x")) == 3, timeout=10, what="the first three")
    for node, upto in ((one, 6), (two, 9)):
        mark = leader.log_mark()
        kill_node(node)
        leader.wait_log(r"lost: 1 client sessions kept here wait to be resumed", start=mark,
                        timeout=20)
        for n in range(upto - 3, upto):
            a.send(b.jid, f"x{n}")
        time.sleep(0.5)
        b.resume(two if node is one else three)
        wait_until(lambda: len(bodies(b.received, "x")) >= upto, timeout=10,
                   what=f"the first {upto}")
    time.sleep(1)
    assert bodies(b.received, "x") == [f"x{n}" for n in range(9)]


def test_a_waiting_session_goes_to_the_next_leader_of_a_leadership_transfer(node_factory,
                                                                           certs):
    """B's node dies; while B's session waits, the leader hands leadership
    to the other follower (rxmppctl cluster leader): the old leader hands
    the waiting session to it, and B resumes there with what it had not
    acknowledged and what came while it was away, each once."""
    from test_cluster import status
    from xmpp import login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)
    b = SmClient(one.certs["ca"], "bob", "bob-pw", "b")

    async def scenario():
        loop = asyncio.get_event_loop()
        alice = await login(leader, "alice", "alice-pw", resource="a")
        await loop.run_in_executor(None, b.connect, one)
        probe = await login(one, "bob", "bob-pw", resource="probe")
        await until_reachable(alice, probe, "bob@test.example/probe")
        await probe.close()
        for n in range(5):
            alice.send_message(mto=b.jid, mbody=f"a{n}", mtype="chat")
        await loop.run_in_executor(None, lambda: wait_until(
            lambda: len(bodies(b.received, "a")) == 5, timeout=15, what="B's first five"))
        mark = leader.log_mark()
        await loop.run_in_executor(None, kill_node, one)
        await loop.run_in_executor(None, lambda: leader.wait_log(
            r"lost: 1 client sessions kept here wait to be resumed", start=mark, timeout=20))
        for n in range(5, 10):
            alice.send_message(mto=b.jid, mbody=f"a{n}", mtype="chat")
        out = await loop.run_in_executor(
            None, lambda: leader.ctl("cluster", "leader", two.cluster_address).stdout)
        assert "leadership handed over" in out, out
        await loop.run_in_executor(None, lambda: leader.wait_log(
            r"1 client sessions kept here handed to the new leader", start=mark,
            timeout=20))
        assert status(two)["state"] == "LEADER"
        for n in range(10, 15):
            alice.send_message(mto=b.jid, mbody=f"a{n}", mtype="chat")
        await loop.run_in_executor(None, b.resume, two)
        await loop.run_in_executor(None, lambda: wait_until(
            lambda: len(bodies(b.received, "a")) >= 15, timeout=20, what="all fifteen"))
        await asyncio.sleep(1.0)
        assert bodies(b.received, "a") == numbered("a", 15)
        b.close()
        await alice.close()

    run(scenario())


def test_a_session_not_resumed_in_time_after_its_node_died_stores_what_was_kept(
        node_factory, certs):
    """B's node is killed and B never comes back: after resume_timeout the
    leader routes what it kept -- what B had not acknowledged, and what
    came while it was away -- again: stored offline, as B has no resource
    left; the id is forgotten."""
    from xmpp import run

    leader, one, two, bob, previd = bob_kept_on_a_follower(node_factory, certs)

    async def scenario():
        loop = asyncio.get_event_loop()
        alice, errors = await alice_watching_her_errors(one, two)
        send_to_bob(alice, "before")
        # B gets them (written once the leader has them) and acknowledges nothing.
        mark = await bob_read_then_his_node_killed(leader, one, bob)
        send_to_bob(alice, "held")
        await before_and_held_stored(errors, two)
        await loop.run_in_executor(None, lambda: leader.wait_log(
            r"client session bob@test\.example/b was not resumed in time", start=mark))
        await alice.close()

    try:
        run(scenario())
        assert_id_forgotten(two, previd)
    finally:
        bob.close()
