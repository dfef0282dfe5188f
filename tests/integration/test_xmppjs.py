# SPDX-License-Identifier: MIT
"""XEP-0198 with xmpp.js (@xmpp/client and @xmpp/stream-management from npm,
pinned in tests/integration/xmppjs/package-lock.json and installed by `make
deps-test` with `npm ci`): enable, acks of what it sends, and resumption on
the same node after its TCP connection is cut, with what was sent to it
meanwhile arriving exactly once."""

import json
import os
import queue
import shutil
import subprocess
import threading
import time

import pytest

HERE = os.path.join(os.path.dirname(__file__), "xmppjs")


class JsClient:
    """The node process of xmppjs/sm_client.mjs: commands in, events out."""

    def __init__(self, node, user, password, resource):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=node.certs["ca"])
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "sm_client.mjs"), str(node.client_port), user, password,
             resource], cwd=HERE, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, event, timeout=15):
        """The next event of that kind; the others met meanwhile are kept."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event} event within {timeout}s; saw {skipped}")
                got = self.events.get(timeout=left)
                if got["event"] == event:
                    return got
                if got["event"] == "error":
                    raise AssertionError(f"xmpp.js: {got['text']}")
                skipped.append(got)
        except queue.Empty:
            raise AssertionError(f"no {event} event within {timeout}s; saw {skipped}") from None
        finally:
            for e in reversed(skipped):
                self.events.queue.appendleft(e)

    def messages(self, quiet=1.5, limit=100):
        """Bodies received until nothing comes for `quiet` seconds."""
        bodies = []
        while len(bodies) < limit:
            try:
                got = self.events.get(timeout=quiet)
            except queue.Empty:
                break
            if got["event"] == "message":
                bodies.append(got["body"])
        return bodies

    def close(self):
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def js_ready():
    if shutil.which("node") is None or not os.path.isdir(os.path.join(HERE, "node_modules")):
        pytest.fail("xmpp.js is not installed: run `make deps-test` (npm ci in "
                    "tests/integration/xmppjs)")


def test_xmppjs_enables_acks_and_resumes_after_the_connection_is_cut(node_factory, js_ready):
    import asyncio

    from xmpp import WAIT, login, run

    node = node_factory().start()
    node.add_user("alice", "alice-pw")
    node.add_user("carol", "carol-pw")
    carol = JsClient(node, "carol", "carol-pw", "web")
    try:
        online = carol.expect("online")
        assert online["enabled"] and len(online["id"]) == 32, online

        async def wait(call, *args, **kwargs):
            # The client's events are read off the loop that runs alice.
            return await asyncio.to_thread(call, *args, **kwargs)

        async def scenario():
            alice = await login(node, "alice", "alice-pw", resource="a")
            errors = asyncio.Queue()
            alice.add_event_handler("message_error", errors.put_nowait)
            # What carol sends is acknowledged by the server.
            for i in range(3):
                carol.command(f"send alice@test.example/a up {i}")
            for i in range(3):
                assert (await alice.next_message())["body"] == f"up {i}"
            for i in range(3):
                assert (await wait(carol.expect, "acked"))["id"] == f"js{i + 1}"
            for i in range(2):
                alice.send_message(mto="carol@test.example/web", mbody=f"before {i}",
                                   mtype="chat")
            assert await wait(carol.messages, quiet=1.0) == ["before 0", "before 1"]
            mark = node.log_mark()
            carol.command("cut")
            await wait(carol.expect, "disconnected")
            node.wait_log(r"client session carol@test\.example/web keeps its place",
                          start=mark)
            for i in range(4):
                alice.send_message(mto="carol@test.example/web", mbody=f"while away {i}",
                                   mtype="chat")
            await asyncio.sleep(0.5)
            carol.command("reconnect")
            await wait(carol.expect, "resumed")
            node.wait_log(r"resumed client session carol@test\.example/web: 4 stanzas sent "
                          r"again", start=mark)
            assert await wait(carol.messages) == [f"while away {i}" for i in range(4)]
            carol.command("send alice@test.example/a after")
            assert (await alice.next_message())["body"] == "after"
            assert errors.empty()
            await asyncio.wait_for(alice.close(), WAIT)

        run(scenario())
    finally:
        carol.close()
