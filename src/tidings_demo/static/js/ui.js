// Small DOM helpers shared by the pages.

export function $(id) {
  return document.getElementById(id);
}

export function timeOf(date) {
  return date.toLocaleTimeString([], { hour12: false });
}

export function item(className, ...parts) {
  const li = document.createElement("li");
  if (className) li.className = className;
  li.append(...parts);
  return li;
}

export function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

export function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

// Mirrors the connection's state into `stateElement` (data-state drives the colour) and shows
// connection errors in `errorElement`. Returns nothing: cleanup() removes the bindings.
export function watchConnection(pusher, stateElement, errorElement) {
  const show = (state) => {
    stateElement.textContent = state;
    stateElement.dataset.state = state;
  };
  show(pusher.connection.state);
  pusher.connection.bind("state_change", ({ current }) => {
    show(current);
    if (current === "connected") showError(errorElement, "");
    if (current === "unavailable") {
      showError(errorElement, "tidings is unreachable; pusher-js keeps retrying.");
    }
    if (current === "failed") showError(errorElement, "This browser cannot connect to tidings.");
  });
  pusher.connection.bind("error", (event) => {
    const error = event && event.error;
    const detail = error && error.data ? `${error.data.code}: ${error.data.message}` : error?.type;
    if (detail) showError(errorElement, `Connection error ${detail}`);
  });
}

// pusher.subscribe(channelName), with that subscription's own state shown in `stateElement`
// (text and data-state): "subscribing" until tidings answers, then "subscribed" or
// "refused (status type)". Connected is not subscribed: events only arrive once subscribed.
// pusher-js drops every subscription when the connection goes and subscribes again once it is
// back, so any connection state but "connected" means "subscribing" again.
export function subscribe(pusher, channelName, stateElement) {
  const show = (state, text = state, detail = "") => {
    stateElement.textContent = text;
    stateElement.dataset.state = state;
    stateElement.title = detail;
  };
  show("subscribing");
  const channel = pusher.subscribe(channelName);
  channel.bind("pusher:subscription_succeeded", () => show("subscribed"));
  channel.bind("pusher:subscription_error", (status) => {
    const reason = [status?.status, status?.type].filter(Boolean).join(" ");
    show("refused", reason ? `refused (${reason})` : "refused", status?.error || "");
  });
  pusher.connection.bind("state_change", ({ current }) => {
    if (current !== "connected") show("subscribing");
  });
  return channel;
}

// What a subscription state element says when there is no subscription (before or after).
export function showUnsubscribed(stateElement) {
  stateElement.textContent = "not subscribed";
  stateElement.dataset.state = "unsubscribed";
  stateElement.title = "";
}

// The cleanup the guide prescribes for a component that goes away; then our own connection
// bindings go too, so a closed client no longer writes to the page.
export function cleanup(pusher, channels) {
  for (const channel of channels) {
    channel.unbind_all();
    channel.unsubscribe();
  }
  pusher.disconnect();
  pusher.connection.unbind_all();
}

// Like React's useEffect: mount now, clean up when the page is left (or when asked to).
export function mountUntilPageHide(mount) {
  let unmount = mount();
  const onHide = () => {
    if (unmount) unmount();
    unmount = null;
  };
  window.addEventListener("pagehide", onHide, { once: true });
  return onHide;
}

export async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let payload = {};
  try {
    payload = await response.json();
  } catch (error) {
    payload = { error: `HTTP ${response.status}` };
  }
  if (!response.ok) {
    const details = payload.details ? ` (${payload.details})` : "";
    throw new Error(`${payload.error || `HTTP ${response.status}`}${details}`);
  }
  return payload;
}
