# SPDX-License-Identifier: MIT
"""Real XMPP peers for the tests: slixmpp clients and components (the
library from Debian), driven from one asyncio loop with bounded waits."""

import asyncio
import logging

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.tostring import tostring

logging.getLogger("slixmpp").setLevel(logging.CRITICAL)

WAIT = 15  # seconds for any single expected event


class Peer:
    """What clients and components share: queues of what arrived, a future
    for the session start and one for the end of the connection."""

    def _setup_peer(self, ca):
        self.ca_certs = ca
        self.inbox = asyncio.Queue()
        loop = asyncio.get_event_loop()
        self.started = loop.create_future()
        self.gone = loop.create_future()
        self.add_event_handler("message", self.inbox.put_nowait)
        self.add_event_handler("disconnected", self._on_gone)

    def _started_ok(self):
        if not self.started.done():
            self.started.set_result(True)

    def _on_gone(self, event):
        if not self.started.done():
            self.started.set_exception(ConnectionError("disconnected before the session"))
        if not self.gone.done():
            self.gone.set_result(True)

    def send_now(self, stanza):
        """Writes `stanza` to the connection at once; False when there is no
        open connection.  slixmpp's send() only queues a stanza for a task
        that writes it later, and discards that queue when the stream ends:
        a stanza "sent" just before the server ends the stream may never
        leave the client.  A test that counts what it sent counts only what
        was written."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.send_raw(tostring(stanza.xml, xmlns=self.default_ns, stream=self, top_level=True))
        return True

    async def next_message(self, timeout=WAIT):
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def close(self):
        self.disconnect()
        try:
            await asyncio.wait_for(self.gone, WAIT)
        except asyncio.TimeoutError:
            self.abort()


class Client(Peer, slixmpp.ClientXMPP):
    def __init__(self, jid, password, ca, mech=None):
        slixmpp.ClientXMPP.__init__(self, jid, password, sasl_mech=mech)
        self._setup_peer(ca)
        self.presences = asyncio.Queue()
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0092")
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("failed_all_auth", self._on_failed)
        self.add_event_handler("failed_auth", self._on_failed)
        self.add_event_handler("presence", self.presences.put_nowait)

    async def _on_start(self, event):
        self.send_presence()
        self._started_ok()

    def _on_failed(self, event):
        if not self.started.done():
            self.started.set_exception(PermissionError("authentication failed"))


class Component(Peer, slixmpp.ComponentXMPP):
    def __init__(self, jid, secret, port, ca):
        slixmpp.ComponentXMPP.__init__(self, jid, secret, "127.0.0.1", port)
        self._setup_peer(ca)
        self.add_event_handler("session_start", lambda event: self._started_ok())


async def login(node, user, password, mech=None, port=None, resource=None, address="127.0.0.1"):
    jid = f"{user}@test.example" + (f"/{resource}" if resource else "")
    client = Client(jid, password, node.certs["ca"], mech)
    client.connect(address=(address, port or node.client_port))
    try:
        await asyncio.wait_for(client.started, WAIT)
    except BaseException:
        client.abort()
        raise
    return client


async def connect_bridge(node, name, secret, use_ssl=True):
    component = Component(f"{name}.test.example", secret, node.component_port, node.certs["ca"])
    component.connect(use_ssl=use_ssl)
    try:
        await asyncio.wait_for(component.started, WAIT)
    except BaseException:
        component.abort()
        raise
    return component


def run(coro, timeout=120):
    """Runs one test's coroutine on a fresh loop, bounded in time."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))
    finally:
        # slixmpp leaves a filter task per stream waiting; end them quietly.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


__all__ = ["Client", "Component", "IqError", "connect_bridge", "login", "run", "WAIT"]
