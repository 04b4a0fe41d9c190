// Validate webhook requests with the official Node SDK, exactly as a Node receiver would.
// stdin: [{app: {appId, key, secret}, headers: {lower-case: value}, body: "raw"}]
// stdout: [{valid, events}] in the same order.
const Pusher = require("pusher")

let input = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk) => (input += chunk))
process.stdin.on("end", () => {
  const verdicts = JSON.parse(input).map(({ app, headers, body }) => {
    const webhook = new Pusher(app).webhook({ headers, rawBody: body })
    const valid = webhook.isValid()
    return { valid, events: valid ? webhook.getEvents() : null }
  })
  process.stdout.write(JSON.stringify(verdicts))
})
