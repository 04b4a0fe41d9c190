// A WebSocket client nobody here wrote: the `ws` package (devDependency), driven by JSON lines,
// for the RFC 6455 conformance tests (tests/integration/test_websocket_rfc6455.py).
//
// argv[2]: the ws:// URL. stdin, one command a line:
//   {"op": "send", "text": "..."}          a text message (ws sends it as one frame)
//   {"op": "ping", "data": "<base64>"}     a WebSocket ping with that payload
//   {"op": "close", "code": 1000, "reason": "..."}
// stdout, one event a line:
//   {"type": "open"} | {"type": "message", "binary": false, "data": "..."}
//   {"type": "ping" | "pong", "data": "<base64>"} | {"type": "close", "code": 1000, "reason": ""}
//   {"type": "error", "message": "..."} | {"type": "unexpected-response", "status": 426}
// The script exits once the connection has closed (or its stdin does).
"use strict";

const readline = require("readline");
const WebSocket = require("ws");

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

const ws = new WebSocket(process.argv[2], { perMessageDeflate: false });
const commands = readline.createInterface({ input: process.stdin });

ws.on("open", () => emit({ type: "open" }));
ws.on("message", (data, isBinary) =>
  emit({ type: "message", binary: isBinary, data: data.toString(isBinary ? "base64" : "utf8") }),
);
ws.on("ping", (data) => emit({ type: "ping", data: data.toString("base64") }));
ws.on("pong", (data) => emit({ type: "pong", data: data.toString("base64") }));
ws.on("unexpected-response", (request, response) => {
  emit({ type: "unexpected-response", status: response.statusCode });
  request.destroy();
});
ws.on("error", (error) => emit({ type: "error", message: String(error.message) }));
ws.on("close", (code, reason) => {
  emit({ type: "close", code, reason: reason.toString("utf8") });
  commands.close();
  process.stdin.destroy();
});

commands.on("line", (line) => {
  const command = JSON.parse(line);
  if (command.op === "send") {
    ws.send(command.text);
  } else if (command.op === "ping") {
    ws.ping(Buffer.from(command.data, "base64"));
  } else if (command.op === "close") {
    ws.close(command.code, command.reason ?? "");
  } else {
    emit({ type: "error", message: `unknown command ${line}` });
  }
});
// The test went away: do not linger.
commands.on("close", () => {
  if (ws.readyState !== WebSocket.CLOSED) {
    ws.terminate();
  }
});
