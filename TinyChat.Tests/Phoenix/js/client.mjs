// One phoenix.js client under the test's control. Configured by environment:
//   TINYCHAT_SOCKET  ws://127.0.0.1:PORT/socket
//   TOKEN            the access token
//   AUTH             "params" (default: {params: {token}}) or "authToken" (phoenix 1.8's authToken option)
//   VSN              "2.0.0" (default) or "1.0.0" (then JSON objects, phoenix.js's encode/decode options)
//   TOPICS           comma-separated topics to join at start (default room:default)
//   RECONNECT_MS     phoenix.js reconnect delay (default its own backoff)
//   HEARTBEAT_MS     phoenix.js heartbeat interval (default its own, 30 s)
//   FALLBACK_MS      longPollFallbackMs (default off)
// Emits JSON lines: open, error, close, joined {topic, status, response}, msg {topic, payload},
// presence {topic, users: [{id, metas}]}, presence_count {topic, payload}, typing, room_event {topic, payload}, reply {id, status, response}, done, failed.
// Reads JSON commands: {"do":"push", "id", "topic", "event", "payload"}, {"do":"join", "topic"},
// {"do":"leave", "topic"}, {"do":"quit"}.
import { Socket, Presence, url, emit, run, reply, command } from "./harness.mjs"

const vsn1 = {
  encode: (msg, callback) => callback(JSON.stringify({ topic: msg.topic, event: msg.event, payload: msg.payload, ref: msg.ref, join_ref: msg.join_ref })),
  decode: (raw, callback) => { const m = JSON.parse(raw); callback({ join_ref: m.join_ref, ref: m.ref, topic: m.topic, event: m.event, payload: m.payload }) },
}

run(async () => {
  const env = process.env
  const opts = {}
  if (env.AUTH === "authToken") { opts.authToken = env.TOKEN } else { opts.params = { token: env.TOKEN } }
  if (env.VSN === "1.0.0") { Object.assign(opts, { vsn: "1.0.0" }, vsn1) }
  if (env.RECONNECT_MS) { opts.reconnectAfterMs = () => Number(env.RECONNECT_MS) }
  if (env.HEARTBEAT_MS) { opts.heartbeatIntervalMs = Number(env.HEARTBEAT_MS) }
  if (env.FALLBACK_MS) { opts.longPollFallbackMs = Number(env.FALLBACK_MS) }
  const socket = new Socket(url, opts)
  socket.onOpen(() => emit("open", { transport: socket.transportName(socket.transport) }))
  socket.onError(error => emit("error", { error: String(error && error.message || error) }))
  socket.onClose(event => emit("close", { code: event && event.code, reason: event && event.reason }))
  socket.onMessage(m => { if (m.topic === "phoenix") { emit("heartbeat", { status: m.payload.status }) } })
  socket.connect()

  const channels = new Map()
  const join = async (topic) => {
    // The last id seen goes with every (re)join, so phoenix.js's automatic rejoin pushes what was missed.
    let lastId = null
    const channel = socket.channel(topic, () => (lastId === null ? {} : { last_id: lastId }))
    channel.on("new_msg", payload => { if (payload.id > (lastId ?? 0)) { lastId = payload.id } emit("msg", { topic, payload }) })
    channel.on("typing", payload => emit("typing", { topic, payload }))
    channel.on("room_event", payload => emit("room_event", { topic, payload }))
    channel.on("presence_count", payload => emit("presence_count", { topic, payload }))
    channel.onError(reason => emit("channel_error", { topic, reason }))
    if (topic.startsWith("room:")) {
      const presence = new Presence(channel)
      presence.onSync(() => emit("presence", { topic, users: presence.list((id, { metas }) => ({ id, metas: metas.length })) }))
    }
    channels.set(topic, channel)
    const push = channel.join()
    push.receive("ok", response => emit("joined", { topic, status: "ok", response }))
    push.receive("error", response => emit("joined", { topic, status: "error", response }))
  }

  for (const topic of (env.TOPICS ?? "room:default").split(",").filter(t => t)) { await join(topic) }
  for (;;) {
    const line = await command()
    const cmd = JSON.parse(line)
    if (cmd.do === "quit") { socket.disconnect(); return }
    if (cmd.do === "join") { await join(cmd.topic) }
    if (cmd.do === "leave") { emit("left", { topic: cmd.topic, ...(await reply(channels.get(cmd.topic).leave())) }) }
    if (cmd.do === "push") {
      reply(channels.get(cmd.topic).push(cmd.event, cmd.payload)).then(r => emit("reply", { id: cmd.id, ...r }))
    }
  }
})
