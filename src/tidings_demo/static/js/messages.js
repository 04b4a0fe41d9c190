// The guide's MessageListener: new-message on user-{userId}, plus a form for /api/send-message.
import { createPusher, publicConfig } from "./config.js";
import {
  $, cleanup, item, mountUntilPageHide, postJson, showError, span, subscribe, timeOf,
  watchConnection,
} from "./ui.js";

const errorElement = $("user-error");
let unmount = null;
let currentUserId = null;

function listen(userId) {
  const pusher = createPusher();
  watchConnection(pusher, $("user-state"), errorElement);
  $("user-channel").textContent = `user-${userId}`;
  const channel = subscribe(pusher, `user-${userId}`, $("user-subscription"));
  channel.bind("pusher:subscription_error", (status) => {
    showError(errorElement, `Could not subscribe to user-${userId}: ${JSON.stringify(status)}`);
  });
  channel.bind("new-message", (data) => {
    try {
      const sent = data.timestamp ? new Date(data.timestamp) : new Date();
      $("user-messages").append(
        item("message", span("time", timeOf(sent)), span("content", data.message)),
      );
    } catch (error) {
      console.error("Error handling Pusher event:", error);
    }
  });
  return () => cleanup(pusher, [channel]);
}

// Re-subscribing when the user id changes, like a useEffect with [userId] as dependency.
function listenTo(userId) {
  if (unmount) unmount();
  currentUserId = userId;
  $("user-messages").replaceChildren();
  unmount = mountUntilPageHide(() => listen(userId));
}

$("user-id").value = new URLSearchParams(location.search).get("userId")
  || publicConfig.user?.id
  || "42";

$("user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showError(errorElement, "");
  listenTo($("user-id").value.trim());
});

$("send-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(errorElement, "");
  try {
    await postJson("/api/send-message", { userId: currentUserId, message: $("send-text").value });
    $("send-text").value = "";
  } catch (error) {
    showError(errorElement, `Could not send: ${error.message}`);
  }
});

listenTo($("user-id").value.trim());
