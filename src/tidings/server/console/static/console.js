// The debug console page. Everything shown comes from clients and apps: it is set as text,
// never parsed as HTML.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const authHeaders = token ? { "X-Tidings-Console-Token": token } : {};
const $ = (id) => document.getElementById(id);
const KINDS = JSON.parse($("kinds").textContent); // every kind of news, in order
const GROUPS = {
  connected: "connection", disconnected: "connection",
  subscribed: "subscription", unsubscribed: "subscription", subscription_refused: "subscription",
  api_message: "message", client_event: "message",
  webhook_sent: "webhook", webhook_failed: "webhook",
};
const NO_RETRY = {
  4401: "the console token is missing or wrong",
  4403: "refused: not this server's page",
  4404: "no such app in this console",
  4429: "too many consoles are open on this server",
};

const view = {
  app: null,
  socket: null,
  retry: null,
  paused: false,
  kept: [], // {event, node}, oldest first
  held: [], // events that came while paused
  dropped: 0, // lost on the server's side: this page read too slowly, or too much was held
  filtersSent: 0,
};

function sendFilter() {
  view.filtersSent += 1;
  $("controls").dataset.filter = "pending"; // until the server says it applies it
  view.socket.send(JSON.stringify({ filter: currentFilter() }));
}

function setState(state, text = state) {
  const element = $("stream-state");
  element.dataset.state = state;
  element.textContent = text;
}

function showProblem(text) {
  $("problem").hidden = !text;
  $("problem").textContent = text || "";
}

// -- filters: what the server sends, and which kept events the list shows --------------------
function currentFilter() {
  const kinds = [...document.querySelectorAll("#filter-kinds input:checked")].map((i) => i.value);
  return { prefix: $("filter-prefix").value, kinds };
}

function matches(event, filter) {
  if (!filter.kinds.includes(event.kind)) return false;
  if (!filter.prefix) return true;
  return typeof event.channel === "string" && event.channel.startsWith(filter.prefix);
}

function applyFilter() {
  const filter = currentFilter();
  if (view.socket && view.socket.readyState === WebSocket.OPEN) sendFilter();
  for (const { event, node } of view.kept) node.hidden = !matches(event, filter);
  updateEmpty();
}

// -- the list ---------------------------------------------------------------------------------
function clock(ms) {
  const at = new Date(ms);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

function pretty(data) {
  if (typeof data === "string") {
    try {
      return JSON.stringify(JSON.parse(data), null, 2);
    } catch {
      return data;
    }
  }
  return JSON.stringify(data, null, 2);
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

function details(event) {
  const parts = [];
  if (event.event !== undefined) parts.push(`event ${event.event}`);
  if (event.socket_id !== undefined) {
    parts.push(event.kind === "api_message" ? `except socket ${event.socket_id}` : `socket ${event.socket_id}`);
  }
  if (event.user_id !== undefined) parts.push(`user ${event.user_id}`);
  if (event.kind === "disconnected") {
    parts.push(event.code == null ? "no close frame" : `close code ${event.code}`);
  } else if (event.kind === "subscription_refused") {
    parts.push(`status ${event.code}`, event.detail);
  } else if (event.kind.startsWith("webhook_")) {
    parts.push(event.detail, `attempt ${event.code}`);
  }
  return parts.join(" · ");
}

function render(event) {
  const node = document.createElement("li");
  node.dataset.kind = event.kind;
  if (event.channel !== undefined) node.dataset.channel = event.channel;
  node.append(span("at", clock(event.at)));
  const kind = span("kind", event.kind.replace(/_/g, " "));
  kind.dataset.kind = event.kind;
  kind.dataset.group = GROUPS[event.kind] || "";
  node.append(kind);
  const what = document.createElement("div");
  what.className = "what";
  if (event.channel !== undefined) what.append(span("channel", event.channel), " ");
  what.append(span("detail", details(event)));
  if (event.kind.startsWith("webhook_") && Array.isArray(event.data)) {
    const carried = event.data.map((e) => `${e.name} ${e.channel ?? ""}`.trim()).join(", ");
    what.append(document.createElement("br"), span("detail", carried));
  } else if (event.data !== undefined) {
    const pre = document.createElement("pre");
    pre.className = "data";
    pre.textContent = pretty(event.data);
    what.append(pre);
  }
  node.append(what);
  return node;
}

function cap() {
  const value = Number.parseInt($("cap").value, 10);
  return Number.isFinite(value) && value > 0 ? Math.min(value, 5000) : 500;
}

function keep(event, filter) {
  const node = render(event);
  node.hidden = !matches(event, filter);
  $("events").prepend(node); // newest on top
  view.kept.push({ event, node });
  trim();
}

function trim() {
  const limit = cap();
  while (view.kept.length > limit) view.kept.shift().node.remove();
}

function updateEmpty() {
  $("events-empty").hidden = view.kept.some(({ node }) => !node.hidden);
}

function updateDropped() {
  $("dropped").hidden = view.dropped === 0;
  $("dropped").textContent = `${view.dropped} dropped (the page read too slowly)`;
}

function receive(events, dropped) {
  view.dropped += dropped;
  if (view.paused) {
    view.held.push(...events);
    const over = view.held.length - cap();
    if (over > 0) {
      view.held.splice(0, over);
      view.dropped += over;
    }
    $("pause").textContent = `Resume (${view.held.length} held)`;
  } else {
    const filter = currentFilter();
    for (const event of events) keep(event, filter);
    updateEmpty();
  }
  updateDropped();
}

function togglePause() {
  view.paused = !view.paused;
  if (view.paused) {
    $("pause").textContent = "Resume (0 held)";
    setState("paused");
  } else {
    $("pause").textContent = "Pause";
    setState(view.socket && view.socket.readyState === WebSocket.OPEN ? "live" : "closed");
    const held = view.held;
    view.held = [];
    receive(held, 0);
  }
}

// -- figures ----------------------------------------------------------------------------------
function showStats(stats) {
  $("connection-count").textContent = String(stats.connections);
  $("channel-count").textContent = String(stats.channel_count);
  const body = document.querySelector("#channels tbody");
  const rows = stats.channels.map((channel) => {
    const row = document.createElement("tr");
    row.dataset.channel = channel.name;
    const cell = (className, text) => {
      const td = document.createElement("td");
      td.className = className;
      td.textContent = text;
      return td;
    };
    row.append(
      cell("name", channel.name),
      cell("subscribers", String(channel.subscription_count)),
      cell("members", channel.user_count == null ? "–" : String(channel.user_count)),
    );
    return row;
  });
  body.replaceChildren(...rows);
  $("channels-empty").hidden = rows.length > 0;
  const more = stats.channel_count - rows.length;
  $("channels-more").hidden = more <= 0;
  $("channels-more").textContent = `and ${more} more`;
}

// -- the feed ---------------------------------------------------------------------------------
function connect() {
  clearTimeout(view.retry);
  if (view.socket) view.socket.close(1000);
  const url = new URL("/console/stream", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("app", view.app);
  if (token) url.searchParams.set("token", token);
  const socket = new WebSocket(url);
  view.socket = socket;
  setState("connecting");
  socket.onopen = () => {
    showProblem("");
    setState(view.paused ? "paused" : "live", view.paused ? "paused" : "live");
    view.filtersSent = 0;
    sendFilter();
  };
  let filtersApplied = 0;
  socket.onmessage = (message) => {
    const answer = JSON.parse(message.data);
    if (answer.type === "activity") receive(answer.events, answer.dropped);
    else if (answer.type === "stats") showStats(answer);
    else if (answer.type === "error") showProblem(answer.message);
    else if (answer.type === "filter") {
      filtersApplied += 1;
      if (filtersApplied === view.filtersSent) $("controls").dataset.filter = "applied";
    }
  };
  socket.onclose = (closed) => {
    if (view.socket !== socket) return; // replaced by a newer one
    const reason = NO_RETRY[closed.code];
    if (reason) {
      setState("refused");
      showProblem(`The console stream was refused: ${reason}.`);
      return;
    }
    setState("closed", "reconnecting");
    view.retry = setTimeout(connect, 2000);
  };
}

async function loadApps() {
  let response;
  try {
    response = await fetch("/console/api/apps", { headers: authHeaders });
  } catch (error) {
    setState("closed", "unreachable");
    showProblem(`Could not reach tidings (${error.message}); reload the page to try again.`);
    return;
  }
  if (!response.ok) {
    setState("refused");
    showProblem(`Could not list the apps: ${response.status} ${(await response.json()).error}`);
    return;
  }
  const { apps } = await response.json();
  const select = $("app-select");
  for (const app of apps) {
    const option = document.createElement("option");
    option.value = app.id;
    option.textContent = `${app.id} (key ${app.key})`;
    select.append(option);
  }
  const wanted = params.get("app");
  view.app = apps.some((app) => app.id === wanted) ? wanted : apps[0]?.id;
  if (view.app === undefined) {
    showProblem("No app to watch.");
    return;
  }
  select.value = view.app;
  connect();
}

// -- the event creator ------------------------------------------------------------------------
async function createEvent(submitted) {
  submitted.preventDefault();
  const result = $("creator-result");
  result.className = "";
  result.textContent = "sending…";
  const body = {
    channel: $("creator-channel").value,
    event: $("creator-event").value,
    data: $("creator-data").value,
  };
  let response;
  let answer;
  try {
    response = await fetch(`/console/api/apps/${encodeURIComponent(view.app)}/events`, {
      method: "POST",
      headers: { ...authHeaders, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    answer = await response.json();
  } catch (error) {
    result.className = "failed";
    result.textContent = `Not sent: the server did not answer (${error.message})`;
    return;
  }
  if (response.ok) {
    result.textContent = `Sent ${answer.event} to ${answer.channel}`;
  } else {
    result.className = "failed";
    result.textContent = `Not sent: ${answer.error}`;
  }
}

// -- wiring -----------------------------------------------------------------------------------
for (const kind of KINDS) {
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.value = kind;
  box.checked = true;
  box.addEventListener("change", applyFilter);
  label.append(box, ` ${kind.replace(/_/g, " ")}`);
  $("filter-kinds").append(label);
}
$("filter-prefix").addEventListener("input", applyFilter);
$("cap").addEventListener("change", () => {
  trim();
  updateEmpty();
});
$("pause").addEventListener("click", togglePause);
$("clear").addEventListener("click", () => {
  for (const { node } of view.kept) node.remove();
  view.kept = [];
  view.held = [];
  view.dropped = 0;
  updateDropped();
  updateEmpty();
  if (view.paused) $("pause").textContent = "Resume (0 held)";
});
$("app-select").addEventListener("change", (changed) => {
  view.app = changed.target.value;
  $("clear").click();
  connect();
});
$("creator").addEventListener("submit", createEvent);
loadApps();
