// The guide's PusherListener: on every page, `my-event` on `my-channel`, shown as it arrives.
import { createPusher } from "./config.js";
import {
  $, cleanup, item, mountUntilPageHide, showError, span, subscribe, timeOf, watchConnection,
} from "./ui.js";

const LOG_KEY = "tidings-demo-log-to-console";

function setUpLoggingSwitch() {
  const toggle = $("log-switch");
  // On unless turned off, as the guide suggests during development; remembered across pages.
  window.Pusher.logToConsole = localStorage.getItem(LOG_KEY) !== "off";
  toggle.checked = window.Pusher.logToConsole;
  toggle.addEventListener("change", () => {
    window.Pusher.logToConsole = toggle.checked;
    localStorage.setItem(LOG_KEY, toggle.checked ? "on" : "off");
  });
}

function describe(data) {
  if (data && typeof data === "object" && typeof data.message === "string") return data.message;
  return typeof data === "string" ? data : JSON.stringify(data);
}

function mountGlobalListener() {
  const errorElement = $("global-error");
  let pusher;
  try {
    pusher = createPusher();
  } catch (error) {
    showError(errorElement, error.message);
    return null;
  }
  watchConnection(pusher, $("global-state"), errorElement);
  const channel = subscribe(pusher, "my-channel", $("global-subscription"));
  channel.bind("pusher:subscription_error", (status) => {
    showError(errorElement, `Could not subscribe to my-channel: ${JSON.stringify(status)}`);
  });
  channel.bind("my-event", (data) => {
    try {
      console.log("Received event:", data);
      $("notifications-empty").hidden = true;
      $("notifications").prepend(
        item("notification", span("time", timeOf(new Date())), " ", describe(data)),
      );
    } catch (error) {
      console.error("Error handling Pusher event:", error);
    }
  });
  return () => cleanup(pusher, [channel]);
}

setUpLoggingSwitch();
mountUntilPageHide(mountGlobalListener);
