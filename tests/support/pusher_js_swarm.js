// Opens many real pusher-js clients and reports how each one's first connection was closed.
// argv[2]: {"host", "port", "key", "count", "channel", "timeoutMs"}. Prints "READY <n>" once
// every client is connected and subscribed, then (when all have seen a close, or on timeout)
// one JSON line: {"connected": n, "codes": {"4200": n, ...}, "unclosed": n}.
"use strict";

const Pusher = require("pusher-js");

const options = JSON.parse(process.argv[2]);
const clients = [];
const codes = {};
let subscribed = 0;
let closed = 0;
let finished = false;

function finish() {
  if (finished) return;
  finished = true;
  for (const client of clients) client.disconnect();
  const summary = { connected: subscribed, codes, unclosed: options.count - closed };
  process.stdout.write(JSON.stringify(summary) + "\n", () => process.exit(0));
}

function recordClose(pusher) {
  let seen = false;
  return (closeEvent) => {
    if (seen) return;
    seen = true;
    const code = String(closeEvent && closeEvent.code);
    codes[code] = (codes[code] || 0) + 1;
    closed += 1;
    // pusher-js would reconnect at once after 4200; the server is gone, so stop it here.
    pusher.disconnect();
    if (closed === options.count) finish();
  };
}

for (let i = 0; i < options.count; i++) {
  const pusher = new Pusher(options.key, {
    wsHost: options.host,
    wsPort: options.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    cluster: "local",
  });
  clients.push(pusher);
  pusher.connection.bind("connected", () => {
    // The transport's own "closed" event carries the WebSocket close code.
    pusher.connection.connection.transport.bind("closed", recordClose(pusher));
  });
  pusher.subscribe(options.channel).bind("pusher:subscription_succeeded", () => {
    subscribed += 1;
    if (subscribed === options.count) process.stdout.write(`READY ${subscribed}\n`);
  });
}

setTimeout(finish, options.timeoutMs);
