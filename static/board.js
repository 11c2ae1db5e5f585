// The board: a room followed with EventSource and a form that posts with fetch. No WebSocket: the HTTP API only.
// ?access_token=TOKEN&room=ROOM (the default room when none is given).

const params = new URLSearchParams(location.search);
const token = params.get('access_token') ?? '';
const room = params.get('room') || 'default';
const $ = (id) => document.getElementById(id);
const seen = new Set();

function api(path, init = {}) {
  const headers = { Authorization: `Bearer ${token}`, ...(init.headers ?? {}) };
  return fetch(path, { ...init, headers });
}

function showError(text) {
  $('board-error').textContent = text;
  $('board-error').hidden = !text;
}

function setStatus(text) {
  $('board-status').textContent = text;
}

function add(message) {
  // A resumed stream sends nothing twice; this guards only against the page's own history read overlapping it.
  if (seen.has(message.id)) return;
  seen.add(message.id);
  const item = document.createElement('li');
  item.className = 'board-message';
  item.dataset.id = String(message.id);
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = message.from;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = message.message;
  const time = document.createElement('time');
  time.dateTime = message.ts;
  time.textContent = new Date(message.ts).toLocaleTimeString();
  item.append(from, text, time);
  $('board-messages').append(item);
}

async function post(event) {
  event.preventDefault();
  const input = $('board-message');
  const text = input.value;
  if (!text) return;
  // The key makes a retried post (a double click, a flaky network) count once.
  const key = crypto.randomUUID();
  const response = await api(`/api/rooms/${encodeURIComponent(room)}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Idempotency-Key': key },
    body: new URLSearchParams({ message: text }),
  });
  if (response.ok) {
    input.value = '';
    showError('');
  } else {
    const body = await response.json().catch(() => ({}));
    showError(body.error ?? `posting failed (${response.status})`);
  }
}

function follow() {
  // EventSource cannot set headers: the token goes in the query (the server never logs it).
  const source = new EventSource(`/api/rooms/${encodeURIComponent(room)}/events?access_token=${encodeURIComponent(token)}`);
  source.addEventListener('open', () => setStatus('live'));
  source.addEventListener('error', () => setStatus(source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting'));
  source.addEventListener('message', (event) => add(JSON.parse(event.data)));
}

async function start() {
  $('board-room').textContent = `#${room}`;
  $('board-form').addEventListener('submit', post);
  const me = await api('/api/me');
  if (!me.ok) {
    setStatus('signed out');
    showError('open this page as board.html?access_token=YOUR_TOKEN');
    return;
  }

  const who = await me.json();
  $('board-user').textContent = who.username;
  $('board-node').textContent = who.node;
  const joined = await api(`/api/rooms/${encodeURIComponent(room)}/membership`, { method: 'PUT' });
  if (!joined.ok) {
    const body = await joined.json().catch(() => ({}));
    showError(body.error ?? `cannot join ${room}`);
    return;
  }

  const history = await api(`/api/rooms/${encodeURIComponent(room)}/messages?limit=50`);
  if (history.ok) {
    for (const message of (await history.json()).messages) add(message);
  }

  follow();
}

start();
