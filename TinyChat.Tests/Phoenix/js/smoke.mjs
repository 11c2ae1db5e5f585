import { Socket, Presence, url, emit, run, reply, until } from "./harness.mjs"

run(async () => {
  const socket = new Socket(url, { params: { token: "foo_token" } })
  socket.connect()
  const channel = socket.channel("room:default", {})
  const received = []
  channel.on("new_msg", m => received.push(m))
  const presence = new Presence(channel)
  let users = []
  presence.onSync(() => { users = presence.list((id, { metas }) => ({ id, count: metas.length })) })
  emit("join", await reply(channel.join()))
  emit("push", await reply(channel.push("new_msg", { body: "hello" })))
  await until("echo", () => received.length > 0)
  emit("received", { received, users })
  emit("bad", await reply(socket.channel("lobby:x").join()))
  emit("other user", await reply(socket.channel("user:bar_user").join()))
  emit("nope", await reply(socket.channel("room:nope").join()))
})
