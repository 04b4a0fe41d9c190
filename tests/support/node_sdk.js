// Drives the official Node `pusher` SDK for tests: one JSON command on argv[2], one JSON answer
// on stdout. Command: {"host", "port", "appId", "key", "secret", "calls": [{"method", "args"}]}.
// Each call answers {"status", "body"} on success or {"error": {"status", "body", "message"}}
// when the SDK rejects, so tests see what a Node backend would see. Calls run one after another.
"use strict";

const Pusher = require("pusher");

const SYNC_METHODS = new Set(["authorizeChannel", "authenticateUser"]);

async function run(pusher, call) {
  if (SYNC_METHODS.has(call.method)) {
    return { value: pusher[call.method](...call.args) };
  }
  try {
    const response = await pusher[call.method](...call.args);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  } catch (error) {
    return {
      error: { status: error.status ?? null, body: error.body ?? null, message: String(error.message) },
    };
  }
}

async function main() {
  const command = JSON.parse(process.argv[2]);
  const pusher = new Pusher({
    appId: command.appId,
    key: command.key,
    secret: command.secret,
    host: command.host,
    port: String(command.port),
    useTLS: false,
  });
  const results = [];
  for (const call of command.calls) {
    results.push(await run(pusher, call));
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
