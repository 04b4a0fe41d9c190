// The guide's SessionListener: agent-message events on agent-{sessionId}, in arrival order.
// tidings' recovery add-on (docs/history.md) makes a reload or a dropped connection lose
// nothing: the whole conversation is replayed from the channel's history, each event once.
import { createPusher } from "./config.js";
import {
  $, cleanup, item, mountUntilPageHide, postJson, showError, showUnsubscribed, span, subscribe,
  timeOf, watchConnection,
} from "./ui.js";

const errorElement = $("session-error");
const stateElement = $("session-state");
const SESSION_KEY = "tidings-demo:agent-session";
let stopListening = null;
let listeningTo = null;

// Loaded from tidings itself by the page (templates/sessions.html), so the add-on always
// matches the server; without it (tidings down when the page loaded) this is plain pusher-js.
const recovery = window.TidingsRecovery || null;

function listen(sessionId) {
  const pusher = createPusher();
  // fromStart: this page rebuilds its list from the history on every load.
  if (recovery) recovery.attach(pusher, { fromStart: true });
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

function startListening(sessionId) {
  listeningTo = sessionId;
  sessionStorage.setItem(SESSION_KEY, sessionId); // a reload listens to the same session
  $("agent-messages").replaceChildren();
  stopListening = mountUntilPageHide(() => listen(listeningTo));
  $("listen-button").textContent = "Stop listening";
  $("session-id").disabled = true;
}

$("listen-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showError(errorElement, "");
  if (stopListening) {
    stopListening();
    stopListening = null;
    listeningTo = null;
    sessionStorage.removeItem(SESSION_KEY);
    $("listen-button").textContent = "Start listening";
    $("session-id").disabled = false;
    return;
  }
  startListening($("session-id").value.trim());
});

const resumed = sessionStorage.getItem(SESSION_KEY);
$("session-id").value = resumed || `session-${Math.random().toString(36).slice(2, 8)}`;
if (resumed) {
  startListening(resumed);
  followRun(resumed);
}

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
