// The guide's SessionListener: agent-message events on agent-{sessionId}, in arrival order.
import { createPusher } from "./config.js";
import {
  $, cleanup, item, mountUntilPageHide, postJson, showError, showUnsubscribed, span, subscribe,
  timeOf, watchConnection,
} from "./ui.js";

const errorElement = $("session-error");
const stateElement = $("session-state");
let stopListening = null;
let listeningTo = null;

function listen(sessionId) {
  const pusher = createPusher();
  watchConnection(pusher, stateElement, errorElement);
  $("session-channel").textContent = `agent-${sessionId}`;
  const channel = subscribe(pusher, `agent-${sessionId}`, $("session-subscription"));
  channel.bind("pusher:subscription_succeeded", () => {
    $("run-button").disabled = false;
  });
  channel.bind("pusher:subscription_error", (status) => {
    showError(errorElement, `Could not subscribe to agent-${sessionId}: ${JSON.stringify(status)}`);
  });
  channel.bind("agent-message", (data) => {
    try {
      const entry = item(
        `message role-${data.role} type-${data.type}`,
        span("time", timeOf(new Date())),
        span("role", data.role),
        span("type", data.type),
        span("content", data.message),
      );
      entry.dataset.role = data.role;
      entry.dataset.type = data.type;
      $("agent-messages").append(entry);
    } catch (error) {
      console.error("Error handling Pusher event:", error);
    }
  });
  return () => {
    cleanup(pusher, [channel]);
    $("run-button").disabled = true;
    stateElement.textContent = "not listening";
    stateElement.dataset.state = "initialized";
    showUnsubscribed($("session-subscription"));
  };
}

// Runs happen in the background; their status says whether a send failed for good (in which
// case no more events will come, so the page must say so itself).
async function followRun(sessionId) {
  const statusElement = $("run-status");
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const response = await fetch(`/api/agent/sessions/${encodeURIComponent(sessionId)}`);
    if (!response.ok) return;
    const status = await response.json();
    const retried = status.retries ? `, ${status.retries} retried` : "";
    statusElement.textContent = `Run ${status.state}: ${status.sent} event(s) sent${retried}.`;
    statusElement.dataset.state = status.state;
    if (status.state === "failed") showError(errorElement, `Agent run failed: ${status.error}`);
    if (status.state !== "running") return;
  }
}

$("session-id").value = `session-${Math.random().toString(36).slice(2, 8)}`;

$("listen-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showError(errorElement, "");
  if (stopListening) {
    stopListening();
    stopListening = null;
    listeningTo = null;
    $("listen-button").textContent = "Start listening";
    $("session-id").disabled = false;
    return;
  }
  listeningTo = $("session-id").value.trim();
  $("agent-messages").replaceChildren();
  stopListening = mountUntilPageHide(() => listen(listeningTo));
  $("listen-button").textContent = "Stop listening";
  $("session-id").disabled = true;
});

$("run-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(errorElement, "");
  $("run-status").textContent = "";
  try {
    await postJson("/api/agent/sessions", { sessionId: listeningTo, message: $("run-message").value });
    $("run-status").textContent = "Run started.";
    followRun(listeningTo);
  } catch (error) {
    showError(errorElement, `Could not start the run: ${error.message}`);
  }
});
