// Counts how often Node's own HTTP client and the `ws` WebSocket client read the server's answer to oversized
// input (issue 17 item 2): a 413 for a large POST, a 1009 close for a large WebSocket message.
// Usage: node lingering.mjs http|ws PORT COUNT BYTES [TOKEN]; prints one JSON line {"read", "count", "others"}.
// The `ws` package comes from the Phoenix tests' pinned node_modules (TINYCHAT_NODE_MODULES).
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

const [mode, portText, countText, bytesText, token] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const bytes = Number(bytesText);
const others = {};
let read = 0;

function tally(outcome, expected) {
  if (outcome === expected) {
    read++;
  } else {
    others[outcome] = (others[outcome] ?? 0) + 1;
  }
}

function postOnce(body) {
  return new Promise((resolve) => {
    const request = http.request(
      { host: '127.0.0.1', port, path: '/api/users', method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (response) => { response.resume(); resolve(response.statusCode); });
    // An error after the answer arrived does not change what was read.
    request.on('error', (error) => resolve(error.code ?? String(error)));
    request.end(body);
  });
}

function sendOnce(WebSocket, message) {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/chat?access_token=${encodeURIComponent(token)}`);
    let settled = false;
    const done = (outcome) => { if (!settled) { settled = true; resolve(outcome); } };
    socket.on('open', () => socket.send(message, () => {}));
    socket.on('close', (code) => done(code));
    socket.on('error', () => {});
    setTimeout(() => { socket.terminate(); done('timeout'); }, 15000);
  });
}

if (mode === 'http') {
  const body = Buffer.alloc(bytes, 'a');
  for (let i = 0; i < count; i++) {
    tally(await postOnce(body), 413);
  }
} else if (mode === 'ws') {
  const require = createRequire(path.join(process.env.TINYCHAT_NODE_MODULES, 'package.json'));
  const WebSocket = require('ws');
  const message = 'x'.repeat(bytes);
  for (let i = 0; i < count; i++) {
    tally(await sendOnce(WebSocket, message), 1009);
  }
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}

console.log(JSON.stringify({ read, count, others }));
