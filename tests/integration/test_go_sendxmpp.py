# SPDX-License-Identifier: MIT
"""go-sendxmpp (Debian's go-sendxmpp, built on the go-xmpp library that many
Go tools and bots use) sends a message to a slixmpp client, over STARTTLS and
over direct TLS.  go-xmpp ends its <starttls/> and its <auth/> with a
newline, so this is the test that whitespace before the first TLS record and
before a restarted stream's header is skipped.  It verifies the server's
certificate against the test CA (SSL_CERT_FILE, which Go honours on Linux);
nothing here turns verification off."""

import asyncio
import os
import shutil
import subprocess

import pytest

from rxmpp_node import free_port
from xmpp import login, run

GO_SENDXMPP = shutil.which("go-sendxmpp")

pytestmark = pytest.mark.skipif(
    GO_SENDXMPP is None,
    reason="go-sendxmpp is not installed (Debian package go-sendxmpp; make deps-test installs it)")


@pytest.fixture
def gonode(node_factory, tmp_path):
    direct = free_port()
    node = node_factory()
    node.write_config(text=node.config_text().replace(
        "  component_port:", f"  direct_tls_port: {direct}\n  component_port:"))
    node.direct_tls_port = direct
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    return node.start()


def go_sendxmpp(node, home, port, body, direct_tls):
    """Runs go-sendxmpp once as alice, sending `body` to bob; its result."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # An empty home: no sendxmpprc of whoever runs the tests is read.
        "HOME": str(home),
        "SSL_CERT_FILE": node.certs["ca"],
    }
    args = [GO_SENDXMPP, "--username", "alice@test.example", "--password", "alice-pw",
            "--jserver", f"127.0.0.1:{port}", "--timeout", "15"]
    if direct_tls:
        args.append("--tls")
    args.append("bob@test.example")
    return subprocess.run(args, input=body, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct-tls"])
def test_go_sendxmpp_sends_to_a_slixmpp_client(gonode, tmp_path, direct_tls):
    port = gonode.direct_tls_port if direct_tls else gonode.client_port
    body = f"hello from go-sendxmpp over {'direct TLS' if direct_tls else 'STARTTLS'}"
    mark = gonode.log_mark()

    async def scenario():
        bob = await login(gonode, "bob", "bob-pw")
        result = await asyncio.to_thread(go_sendxmpp, gonode, tmp_path, port, body, direct_tls)
        assert result.returncode == 0, f"go-sendxmpp failed: {result.stderr or result.stdout}"
        message = await bob.next_message()
        assert message["body"] == body
        assert str(message["from"].bare) == "alice@test.example"
        await bob.close()

    run(scenario())
    gonode.wait_log(r"authenticated as alice with ", start=mark)
    warnings = [line for line in gonode.lines[mark:]
                if "wrong version number" in line or "not at start of entity" in line]
    assert not warnings, warnings
