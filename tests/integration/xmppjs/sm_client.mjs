// SPDX-License-Identifier: MIT
// A real xmpp.js client (@xmpp/client with @xmpp/stream-management, pinned in
// package-lock.json) driven line by line by tests/integration/test_xmppjs.py:
// commands on stdin ("send TO BODY", "cut", "reconnect", "quit"), events as
// JSON lines on stdout.  It reconnects only when told, so that the test
// decides what is sent while the connection is gone.
import readline from "node:readline";

import { client, xml } from "@xmpp/client";

const [port, username, password, resource] = process.argv.slice(2);
const say = (event, data = {}) =>
  process.stdout.write(JSON.stringify({ event, ...data }) + "\n");

const xmpp = client({
  service: `xmpp://127.0.0.1:${port}`,
  domain: "test.example",
  resource,
  username,
  password,
  // xmpp.js waits 2 s by default for each step, and its SCRAM runs 4096
  // WebCrypto HMACs one await at a time: about 2 s on a loaded machine.
  timeout: 20_000,
});
xmpp.reconnect.stop();
const sm = xmpp.streamManagement;

// Bounded: whatever happens, the process ends.
setTimeout(() => process.exit(3), 90_000).unref();

xmpp.on("error", (error) => say("error", { text: String(error) }));
xmpp.on("disconnect", () => say("disconnected"));
xmpp.on("stanza", (stanza) => {
  if (stanza.is("message") && stanza.getChildText("body") !== null)
    say("message", { body: stanza.getChildText("body"), type: stanza.attrs.type || "" });
});
xmpp.on("online", async () => {
  // <enable/> follows the bind; wait for its answer, bounded.
  for (let i = 0; i < 100 && !sm.enabled; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  say("online", { jid: String(xmpp.jid), enabled: sm.enabled, id: sm.id, max: sm.max });
});
sm.on("resumed", () => say("resumed", { inbound: sm.inbound, outbound: sm.outbound }));
sm.on("ack", (stanza) => say("acked", { id: stanza.attrs.id || "" }));
sm.on("fail", (stanza) => say("failed", { id: stanza.attrs.id || "" }));

let sent = 0;
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const [command, to, ...rest] = line.split(" ");
  try {
    if (command === "send") {
      sent += 1;
      await xmpp.send(
        xml("message", { to, type: "chat", id: `js${sent}` }, xml("body", {}, rest.join(" "))),
      );
    } else if (command === "cut") {
      // The TCP connection dies under the client: no </stream:stream>.
      xmpp.socket.socket.destroy(); // the wrapper's tls.TLSSocket
    } else if (command === "reconnect") {
      await xmpp.reconnect.reconnect();
    } else if (command === "quit") {
      await xmpp.stop();
      process.exit(0);
    }
  } catch (error) {
    say("error", { text: String(error) });
  }
});
lines.on("close", () => process.exit(0));

xmpp.start().catch((error) => say("error", { text: String(error) }));
