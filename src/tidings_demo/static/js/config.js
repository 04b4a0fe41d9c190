// The browser's view of the configuration: key, cluster and websocket address, injected by the
// server from its public settings only (the secret never reaches a page).
export const publicConfig = JSON.parse(document.getElementById("public-config").textContent);

export function createPusher() {
  if (!window.Pusher) {
    throw new Error("pusher-js did not load (/vendor/pusher.min.js)");
  }
  return new window.Pusher(publicConfig.key, {
    cluster: publicConfig.cluster,
    wsHost: publicConfig.wsHost,
    wsPort: publicConfig.wsPort,
    forceTLS: false,
    enabledTransports: ["ws", "wss"],
    channelAuthorization: { endpoint: "/pusher/auth" },
    userAuthentication: { endpoint: "/pusher/user-auth" },
  });
}
