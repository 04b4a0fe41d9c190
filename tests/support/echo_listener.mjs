// Laravel Echo (its pusher connector, over real pusher-js) listening to tidings, for the
// history story: does Echo hand events that carry tidings' serial and epoch to listeners as
// it hands any other event?
//
// argv[2]: a JSON object {key, host, port, channel, event}. stdout, one line each:
//   {"type": "subscribed"}                  the channel's subscription succeeded
//   {"type": "event", "data": {...}}        what the listener was called with
//   {"type": "error", "message": "..."}
import Echo from "laravel-echo";
import Pusher from "pusher-js";

const options = JSON.parse(process.argv[2]);
const emit = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const echo = new Echo({
  broadcaster: "pusher",
  key: options.key,
  cluster: "local",
  wsHost: options.host,
  wsPort: options.port,
  forceTLS: false,
  enabledTransports: ["ws"],
  disableStats: true,
  Pusher,
});
echo.connector.pusher.connection.bind("error", (error) =>
  emit({ type: "error", message: JSON.stringify(error) }),
);
// A leading dot: the event's own name, without Echo's "App.Events" namespace.
echo
  .channel(options.channel)
  .subscribed(() => emit({ type: "subscribed" }))
  .listen(`.${options.event}`, (data) => emit({ type: "event", data }));
process.stdin.on("end", () => {
  echo.disconnect();
  process.exit(0);
});
process.stdin.resume();
