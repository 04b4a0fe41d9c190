// Who is online in a room (presence-{room}) and a private chat of client events
// (private-chat-{room}); both channels are authorized by /pusher/auth for logged-in users.
import { createPusher, publicConfig } from "./config.js";
import {
  $, cleanup, item, mountUntilPageHide, showError, showUnsubscribed, span, subscribe, timeOf,
  watchConnection,
} from "./ui.js";

const errorElement = $("presence-error");
let leave = null;

function renderMembers(members) {
  const list = $("members");
  list.replaceChildren();
  members.each((member) => {
    const li = item("member", member.info?.name || member.id);
    li.dataset.userId = member.id;
    if (member.id === members.myID) li.append(" (you)");
    list.append(li);
  });
  $("member-count").textContent = String(members.count);
}

function logPresence(text) {
  $("presence-log").prepend(item("presence-event", span("time", timeOf(new Date())), " ", text));
}

function addChat(from, text, mine) {
  $("chat").append(
    item(mine ? "message mine" : "message", span("time", timeOf(new Date())), span("role", from), span("content", text)),
  );
}

// Both channels can fail (say, 403 when not logged in): every failure stays on screen.
function subscriptionFailed(failures, channelName, status) {
  const code = status?.status;
  const hint = code === 403 ? " (log in first: /login)" : "";
  failures.push(`Subscription to ${channelName} failed: ${code || status?.error || "error"}${hint}`);
  showError(errorElement, failures.join("\n"));
}

function join(room) {
  const pusher = createPusher();
  watchConnection(pusher, $("presence-state"), errorElement);

  // User authentication (pusher.signin via /pusher/user-auth): tidings learns who this socket is.
  pusher.user.bind("pusher:signin_error", (status) => {
    $("signin-status").textContent = `Not signed in to tidings (${status.status || status.error}).`;
  });
  pusher.signin();
  pusher.user.signinDonePromise.then(() => {
    const data = pusher.user.user_data;
    if (data) $("signin-status").textContent = `Signed in to tidings as ${data.user_info?.name} (${data.id}).`;
  });

  const failures = [];
  $("presence-channel").textContent = `presence-${room}`;
  const presence = subscribe(pusher, `presence-${room}`, $("presence-subscription"));
  presence.bind("pusher:subscription_succeeded", (members) => renderMembers(members));
  presence.bind("pusher:subscription_error", (status) => subscriptionFailed(failures, presence.name, status));
  presence.bind("pusher:member_added", (member) => {
    renderMembers(presence.members);
    logPresence(`${member.info?.name || member.id} joined`);
  });
  presence.bind("pusher:member_removed", (member) => {
    renderMembers(presence.members);
    logPresence(`${member.info?.name || member.id} left`);
  });

  $("chat-channel").textContent = `private-chat-${room}`;
  const chat = subscribe(pusher, `private-chat-${room}`, $("chat-subscription"));
  chat.bind("pusher:subscription_succeeded", () => {
    $("chat-button").disabled = false;
  });
  chat.bind("pusher:subscription_error", (status) => subscriptionFailed(failures, chat.name, status));
  chat.bind("client-chat", (data) => {
    try {
      addChat(data.from, data.text, false);
    } catch (error) {
      console.error("Error handling Pusher event:", error);
    }
  });

  const form = $("chat-form");
  const send = (event) => {
    event.preventDefault();
    const text = $("chat-text").value;
    const from = publicConfig.user?.name || "anonymous";
    // Client events are not echoed to their sender, so we show our own line ourselves.
    if (chat.trigger("client-chat", { from, text })) {
      addChat(from, text, true);
      $("chat-text").value = "";
    } else {
      showError(errorElement, "Could not send: not subscribed to the chat channel");
    }
  };
  form.addEventListener("submit", send);

  return () => {
    form.removeEventListener("submit", send);
    cleanup(pusher, [presence, chat]);
    $("chat-button").disabled = true;
    $("members").replaceChildren();
    $("member-count").textContent = "0";
    $("presence-state").textContent = "not joined";
    $("presence-state").dataset.state = "initialized";
    showUnsubscribed($("presence-subscription"));
    showUnsubscribed($("chat-subscription"));
    $("signin-status").textContent = "";
  };
}

function setJoined(joined) {
  $("join-button").disabled = joined;
  $("leave-button").disabled = !joined;
  $("room").disabled = joined;
}

$("room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showError(errorElement, "");
  const room = $("room").value.trim();
  leave = mountUntilPageHide(() => join(room));
  setJoined(true);
});

$("leave-button").addEventListener("click", () => {
  if (leave) leave();
  leave = null;
  setJoined(false);
});

if (!publicConfig.user) {
  $("signin-status").textContent = "You are not logged in: joining will be refused (403).";
}
