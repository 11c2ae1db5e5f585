// Shared by the scenario scripts: the real phoenix.js client on Node, lines of JSON to the NUnit test on stdout,
// commands from it on stdin. Every wait is bounded, so a broken server fails the scenario instead of hanging it.
import { WebSocket } from "ws"
import * as readline from "node:readline"
import { Socket, Presence, LongPoll } from "phoenix"

// BLOCK_WEBSOCKET=1 plays a proxy that refuses upgrades: every WebSocket goes to a path the server does not serve.
class BlockedWebSocket extends WebSocket {
  constructor(address, protocols) { super(address.replace("/socket/websocket", "/socket/blocked"), protocols) }
}
globalThis.WebSocket = process.env.BLOCK_WEBSOCKET === "1" ? BlockedWebSocket : WebSocket
export { Socket, Presence, LongPoll }

export const url = process.env.TINYCHAT_SOCKET // e.g. ws://127.0.0.1:PORT/socket
export const emit = (event, data = {}) => process.stdout.write(JSON.stringify({ event, ...data }) + "\n")

const lines = []
const waiters = []
readline.createInterface({ input: process.stdin }).on("line", line => {
  const waiter = waiters.shift()
  if (waiter) { waiter(line) } else { lines.push(line) }
})

/** The next command line from the test. */
export const command = () => lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise(resolve => waiters.push(resolve))

/** Resolves when check() is true, polling every 10 ms; rejects after timeoutMs. */
export const until = (what, check, timeoutMs = 10000) => new Promise((resolve, reject) => {
  const started = Date.now()
  const poll = () => {
    const value = check()
    if (value) { resolve(value) } else if (Date.now() - started > timeoutMs) { reject(new Error(`timed out waiting for ${what}`)) } else { setTimeout(poll, 10) }
  }
  poll()
})

/** A push's reply as a promise: resolves with {status, response}. */
export const reply = (push) => new Promise(resolve => {
  push.receive("ok", response => resolve({ status: "ok", response }))
    .receive("error", response => resolve({ status: "error", response }))
    .receive("timeout", () => resolve({ status: "timeout" }))
})

/** Runs the scenario; any failure prints it and exits 1. */
export const run = (scenario) => {
  const guard = setTimeout(() => { emit("failed", { error: "scenario took longer than 60 s" }); process.exit(1) }, 60000)
  scenario().then(() => { clearTimeout(guard); emit("done"); process.exit(0) },
    error => { emit("failed", { error: String(error && error.stack || error) }); process.exit(1) })
}
