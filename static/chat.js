// The TinyChat web client: sign-in, then one WebSocket session driving the state and the views.
import { Connection, DISCONNECTED } from './connection.js';
import { ChatState, pmKey, roomKey } from './state.js';
import { Reading } from './reading.js';
import { RoomTools } from './rooms.js';
import {
  MessageView, errorText, h, notify, renderHeader, renderMe, renderOnline, renderRoomBrowser, renderSidebar,
  renderStatus, renderTyping, showScreen, showSignInError,
} from './render.js';

// The token of this tab lives in sessionStorage (each tab keeps the user it was opened with); localStorage only
// holds the last one signed in with, as the default for tabs opened later.
const TOKEN_KEY = 'tinychat.token';
const PAGE = 50;
const CATCH_UP_PAGE = 200; // the server's largest page
const CATCH_UP_PAGES = 5; // beyond this many pages missed, reload the newest page instead of replaying everything
const TYPING_EVERY_MS = 1_000;
const DEFAULT_ROOM = 'default';

const $ = (id) => document.getElementById(id);

let state = null;
let connection = null;
let view = null;
let roomTools = null; // private rooms, roles, moderation, topic, edits (rooms.js)
let typingSupported = true;
let lastTypingSent = 0;
let typingTick = null;
let token = null; // this tab's
// Tells the other tabs of this browser profile who signed out, so that user's tabs follow and no one else's.
const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('tinychat') : null;

// Mentions, read positions, server-listed conversations and search (reading.js), through these hooks.
const reading = new Reading({
  state: () => state,
  connection: () => connection,
  select: (key) => select(key),
  receive: (conversation, messages, options) => receive(conversation, messages, options),
  render: () => state && renderSidebar(state, select),
});

// ---------------------------------------------------------------- sign-in

function start() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('access_token');
  if (fromUrl) {
    remember(fromUrl);
    // Keep the secret out of the address bar, history and screenshots; sessionStorage remembers it for this tab.
    params.delete('access_token');
    const query = params.toString();
    history.replaceState(null, '', location.pathname + (query ? `?${query}` : '') + location.hash);
  }
  const stored = fromUrl || sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY);
  wireStaticControls();
  tabs?.addEventListener('message', (event) => {
    const { signedOut, user } = event.data ?? {};
    // A tab that has not learnt its user yet compares tokens.
    if (signedOut && ((user && user === state?.me) || signedOut === token)) signOut({ tell: false });
  });
  if (stored) {
    sessionStorage.setItem(TOKEN_KEY, stored);
    connect(stored);
  } else {
    showSignIn();
  }
}

/** This tab's token, which also becomes the default for tabs opened from now on. */
function remember(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
  localStorage.setItem(TOKEN_KEY, value);
}

function showSignIn(error, filled = '') {
  showScreen('signin');
  showSignInError(error);
  $('token-input').value = filled;
  $('token-input').focus();
  void showRegistrationMode();
}

/**
 * Shows what registering takes on this server (Chat:Registration): a name (open), a name and an invite code
 * (invite), or nothing but a note (closed). Unknown while the server is unreachable: the form stays as it is and
 * the server's answer says what applies.
 */
async function showRegistrationMode() {
  let mode;
  try {
    const response = await fetch('/api/registration', { cache: 'no-store' });
    mode = response.ok ? (await response.json()).mode : undefined;
  } catch {
    return;
  }
  if (!['open', 'invite', 'closed'].includes(mode)) return;
  const closed = mode === 'closed';
  $('register-form').hidden = closed;
  $('signin-or').hidden = closed;
  $('registration-closed').hidden = !closed;
  $('invite-field').hidden = mode !== 'invite';
  $('invite-input').required = mode === 'invite';
}

async function register(username, invite) {
  let response;
  try {
    response = await fetch('/api/users', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(invite ? { username, invite } : { username }),
    });
  } catch {
    showSignInError('Cannot reach the server. Try again in a moment.');
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status !== 201) {
    const why = response.status === 409 ? `The name ${username} is taken; choose another.` : (body.error ?? `registration failed (${response.status})`);
    showSignInError(body.code ? `${why} (${body.code})` : why);
    return;
  }
  remember(body.access_token);
  connect(body.access_token);
  notify(tokenNotice(body.username, body.access_token), { kind: 'info', sticky: true });
}

/** The one-time token after registering: shown once, with a copy button and a plain warning. */
function tokenNotice(username, value) {
  const field = h('input', { class: 'token-value', readonly: true, 'aria-label': 'Your access token', value });
  const copy = h('button', { type: 'button', class: 'copy-token' }, 'Copy');
  copy.addEventListener('click', async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(value);
      copy.textContent = 'Copied';
    } catch {
      // Without clipboard access the text is selected: Ctrl+C (or long-press) copies it.
      copy.textContent = 'Selected: press Ctrl+C';
    }
  });
  return h('span', { class: 'token-notice' },
    h('strong', {}, `Welcome, ${username}! `),
    'Your access token is', field, copy,
    h('span', { class: 'token-warning' },
      'Save this now: it is the only way to sign in as you again (on another device, or after signing out), and it will not be shown again.'));
}

/** Signs this tab out; unless told by another tab, tells that user's other tabs to follow. */
function signOut({ tell = true } = {}) {
  const me = state?.me ?? null;
  const mine = token;
  connection?.stop();
  connection = null;
  state = null;
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (localStorage.getItem(TOKEN_KEY) === mine) localStorage.removeItem(TOKEN_KEY);
  if (tell && mine) tabs?.postMessage({ signedOut: mine, user: me });
  $('notices').replaceChildren();
  closeRoomBrowser();
  showSignIn();
}

// ---------------------------------------------------------------- session

function connect(value) {
  connection?.stop();
  token = value;
  state = new ChatState();
  typingSupported = true;
  $('message-input').value = '';
  view.show(null, null);
  renderAll();
  showScreen('app');
  showSignInError('');
  const url = new URL('/chat', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('access_token', token);
  url.searchParams.set('batch', '2');
  connection = new Connection(url.href, {
    onOpen: (reconnected) => void synchronise(reconnected),
    onFrame,
    onStatus,
    // The token stays stored and filled in: after a registration it may be the only copy, and the server may
    // just have been unreachable for a moment.
    onRefused: () => void explainRefusal(value),
  });
  connection.start();
}

/**
 * The browser hides why an upgrade failed. If the server answers a plain request, it is up, so it refused the
 * token (401); if it does not, it is unreachable and the token may be fine.
 */
async function explainRefusal(refused) {
  let reachable = false;
  try {
    reachable = (await fetch('/healthz', { cache: 'no-store' })).ok;
  } catch {
    reachable = false;
  }
  if (token !== refused) return; // signed in again meanwhile
  showSignIn(reachable
    ? 'Wrong access token: the server does not know this token (after too many wrong ones it refuses every sign-in from your address for a minute). Check it and sign in again, or register a new user.'
    : 'Cannot reach the server: it may be down or your network offline. Your token was kept; try again in a moment.', refused);
}

function onStatus(status) {
  renderStatus(status);
  if (!state) return;
  if (status.state !== 'connected' && !state.isPresenceStale() && state.presence.size > 0) {
    state.markPresenceStale();
    renderPresence();
  }
}

/**
 * After every (re)connect: learn who we are and which rooms we are in, then fill each conversation from the
 * last message we hold, so nothing sent while we were away is missed and nothing is shown twice.
 */
async function synchronise(reconnected) {
  const session = state;
  const link = connection;
  // Snapshot before any live frame of the new connection moves lastId past the gap.
  const from = new Map([...session.conversations.values()]
    .filter((c) => c.baseline || c.messages.length > 0)
    .map((c) => [c.key, c.lastId]));
  try {
    const whoami = await link.request({ command: 'whoami' });
    session.me = whoami.username;
    session.node = whoami.node;
    renderMe(session.me, session.node);
    let rooms = await link.request({ command: 'rooms' });
    if (!reconnected && rooms.joined.length === 0) {
      // A brand-new user lands somewhere rather than in an empty screen.
      await link.request({ command: 'join', room: DEFAULT_ROOM });
      rooms = await link.request({ command: 'rooms' });
    }
    if (session !== state) return;
    session.allRooms = rooms.rooms;
    session.roomDetails = rooms.details ?? [];
    const gone = session.rooms().filter((c) => !rooms.joined.includes(c.name));
    for (const conversation of gone) session.remove(conversation.key); // left in another tab, or forgotten
    if (reconnected && gone.length > 0 && rooms.joined.length === 0) {
      notify(`The server no longer lists you in ${gone.map((c) => c.label).join(', ')}. Join a room to go on.`, { kind: 'info' });
    }
    for (const room of rooms.joined) session.conversation('room', room);
    if (!reconnected) {
      for (const user of storedPrivates(session.me)) session.conversation('pm', user);
      const remembered = localStorage.getItem(currentKeyStorage(session.me));
      if (remembered && session.conversations.has(remembered)) session.currentKey = remembered;
    }
    if (!session.current) session.currentKey = (session.rooms()[0] ?? session.privates()[0])?.key ?? null;
    session.synchronised = true;
    showCurrent();
    await Promise.all([...session.conversations.values()].map((c) =>
      from.has(c.key) ? catchUp(c, from.get(c.key)) : loadNewest(c)));
    await reading.onSynchronised(session, rooms.details);
    fillView();
  } catch (error) {
    if (error !== DISCONNECTED) notify(errorText(error));
  }
}

function historyFrame(conversation, extra) {
  return conversation.kind === 'room'
    ? { command: 'history', room: conversation.name, ...extra }
    : { command: 'history', with: conversation.name, ...extra };
}

/** Fetches what arrived after lastId, page by page; a gap too long to replay is replaced by the newest page. */
async function catchUp(conversation, after) {
  for (let page = 0; page < CATCH_UP_PAGES; page++) {
    const reply = await requestOrReport(historyFrame(conversation, { after, limit: CATCH_UP_PAGE }), conversation);
    if (!reply) return;
    receive(conversation, reply.history, { live: true });
    if (reply.history.length < CATCH_UP_PAGE) return;
    after = reply.history[reply.history.length - 1].id;
  }
  conversation.reset();
  if (view.conversation === conversation) view.show(conversation, state.me);
  await loadNewest(conversation);
}

/**
 * Loads a conversation's newest page unless it has one or is fetching it. Several paths may ask (the join reply,
 * the presence state that follows it, a reconnect): only the first one fetches.
 */
async function loadNewest(conversation) {
  if (conversation.baseline || conversation.loadingOlder) return;
  await loadOlder(conversation);
}

/** Loads the page before the oldest message held (the newest page when none is held). */
async function loadOlder(conversation) {
  if (conversation.loadingOlder || !conversation.hasOlder) return;
  conversation.loadingOlder = true;
  view.renderEdge();
  const before = conversation.oldestId;
  const reply = await requestOrReport(historyFrame(conversation, before === null ? { limit: PAGE } : { before, limit: PAGE }), conversation);
  conversation.loadingOlder = false;
  if (reply) {
    conversation.baseline = true;
    if (reply.history.length < PAGE) conversation.hasOlder = false;
    receive(conversation, reply.history, { live: false });
  }
  view.renderEdge();
}

/** A history request; errors are shown, and a conversation that cannot exist any more is dropped. */
async function requestOrReport(frame, conversation) {
  if (!connection) return null;
  try {
    return await connection.request(frame);
  } catch (error) {
    if (error === DISCONNECTED) return null;
    notify(errorText(error));
    if (['user_not_found', 'room_not_found', 'not_a_member'].includes(error.code)) {
      closeConversation(conversation);
    }
    return null;
  }
}

/** Keeps loading older pages while the view is not tall enough to scroll. */
async function fillView() {
  const conversation = state?.current;
  while (conversation && conversation === state?.current && conversation.hasOlder && !conversation.loadingOlder && view.underfilled()) {
    const held = conversation.messages.length;
    await loadOlder(conversation);
    if (conversation.messages.length === held) return;
  }
}

// ---------------------------------------------------------------- incoming frames

function onFrame(frame) {
  if (!state || reading.onFrame(frame)) return;
  if ('error' in frame) {
    notify(errorText(frame));
  } else if ('presence_state' in frame) {
    state.setPresence(frame.room, frame.presence_state);
    // Only members get a room's state: an unknown room was joined in another tab.
    if (!state.conversations.has(roomKey(frame.room))) adoptRoom(frame.room);
    renderPresence();
  } else if ('presence_diff' in frame) {
    onPresenceDiff(frame.room, frame.presence_diff);
  } else if ('presence_count' in frame) {
    // A room too big to list: the count replaces the list; names are paged in on request.
    state.setPresenceCount(frame.room, frame.presence_count.online);
    if (!state.conversations.has(roomKey(frame.room))) adoptRoom(frame.room);
    renderPresence();
  } else if ('typing' in frame) {
    onTyping(frame);
  } else if (typeof frame.event === 'string' && typeof frame.room === 'string') {
    // A room event: in a room we are in it is part of its timeline; otherwise an invitation for us, perhaps.
    if (state.conversations.has(roomKey(frame.room))) receive(state.conversationOf(frame), [frame], { live: true });
    else roomTools.onOutsideEvent(frame);
  } else if ('from' in frame && 'message' in frame && 'id' in frame) {
    receive(state.conversationOf(frame), [frame], { live: true });
  }
  // Anything else (pong, a reply whose ref we already forgot) needs no action.
}

/** Adds messages to a conversation; live ones from others count as unread unless it is being read. */
function receive(conversation, messages, { live }) {
  const added = conversation.add(messages);
  if (added.length === 0) return;
  for (const message of added) conversation.clearTyping(message.from);
  const fromOthers = added.filter((m) => m.from !== state.me && !('event' in m)).length;
  if (live && fromOthers > 0 && !(conversation === state.current && isReading())) conversation.unread += fromOthers;
  if (conversation.kind === 'pm') rememberPrivates();
  view.add(conversation, added);
  roomTools.applied(conversation, added, { live });
  renderTyping(state.current);
  reading.onReceived(conversation);
  renderSidebar(state, select);
}

function isReading() {
  return document.visibilityState === 'visible';
}

function onTyping(frame) {
  if (frame.typing === state.me) return; // our own other tab
  const key = typeof frame.room === 'string' ? roomKey(frame.room) : pmKey(frame.typing);
  const conversation = state.conversations.get(key);
  if (!conversation) return;
  conversation.setTyping(frame.typing);
  renderTyping(state.current);
  // One timer re-renders while anyone is typing, so the line disappears ~3 s after the last signal.
  clearInterval(typingTick);
  typingTick = setInterval(() => {
    renderTyping(state?.current);
    if (!state || [...state.conversations.values()].every((c) => c.typingUsers().length === 0)) clearInterval(typingTick);
  }, 500);
  renderSidebar(state, select);
}

function onPresenceDiff(room, diff) {
  const changes = state.applyPresenceDiff(room, diff);
  const me = state.me;
  const conversation = state.conversations.get(roomKey(room));
  if (conversation) {
    for (const kind of ['joined', 'left']) {
      for (const user of changes[kind]) {
        if (user !== me) view.showEvent(conversation, conversation.addPresenceEvent(user, kind));
      }
    }
  }
  const joined = me !== null && me in (diff.joins ?? {});
  const left = me !== null && me in (diff.leaves ?? {});
  // We are connected, so "we joined" or "we left" means the room was joined or left, in this tab or another.
  if (joined && !conversation) adoptRoom(room, { askWho: true });
  else if (left && !joined && conversation) closeConversation(conversation);
  renderPresence();
}

/** The next page of who is online in a room too big to list. */
function showMorePresent(room) {
  const after = state.pagesOf(room)?.next ?? undefined;
  connection?.request({ command: 'who', room, after, limit: 100 }).then((reply) => {
    if (!state || !('online' in reply)) return;
    state.addPresencePage(room, reply);
    renderPresence();
  }, (error) => {
    if (error !== DISCONNECTED) notify(errorText(error));
  });
}

/** A room we turn out to be in without having joined it here (another tab did). */
function adoptRoom(room, { askWho = false } = {}) {
  if (askWho) {
    // Only the joining tab is sent the room's presence state; ask for it.
    connection?.request({ command: 'who', room }).then((reply) => {
      // A big room answers with its first page ("online", "next"): keep the count, not a partial list.
      if ('online' in reply) state?.setPresenceCount(room, reply.online);
      else state?.setPresence(room, reply.presence_state);
      if (state) renderPresence();
    }, (error) => {
      if (error !== DISCONNECTED) notify(errorText(error));
    });
  }
  const conversation = state.conversation('room', room);
  if (state.current) {
    renderAll();
  } else {
    state.currentKey = conversation.key;
    showCurrent();
  }
  void loadNewest(conversation);
}

function renderPresence() {
  renderOnline(state, openPrivate, showMorePresent);
  roomTools.render();
  renderSidebar(state, select);
}

// ---------------------------------------------------------------- user actions

function select(key) {
  if (!state?.conversations.has(key)) return;
  // Each conversation keeps its own unsent draft.
  const input = $('message-input');
  const next = state.conversations.get(key);
  // With no conversation open (say the server forgot our rooms) the text typed so far goes to the next one.
  if (state.current) state.current.draft = input.value;
  else if (next.draft === '') next.draft = input.value;
  input.value = next.draft;
  state.currentKey = key;
  closeRoomBrowser();
  localStorage.setItem(currentKeyStorage(state.me), key);
  closeDrawers();
  showCurrent();
  fillView();
  $('message-input').focus();
}

function showCurrent() {
  const conversation = state.current;
  if (conversation) conversation.unread = 0;
  reading.onShown(conversation);
  view.show(conversation, state.me);
  renderAll();
}

function renderAll() {
  renderMe(state.me, state.node);
  renderSidebar(state, select);
  renderHeader(state);
  renderOnline(state, openPrivate, showMorePresent);
  roomTools.render();
  renderTyping(state.current);
}

function openPrivate(user) {
  if (!state || !user) return;
  const existed = state.conversations.has(pmKey(user));
  const conversation = state.conversation('pm', user);
  rememberPrivates();
  select(conversation.key);
  if (!existed) void loadNewest(conversation).then(fillView);
}

function closeConversation(conversation) {
  if (!state?.conversations.has(conversation.key)) return;
  const wasCurrent = conversation === state.current;
  state.remove(conversation.key);
  rememberPrivates();
  if (wasCurrent) state.currentKey = (state.rooms()[0] ?? state.privates()[0])?.key ?? null;
  showCurrent();
}

async function joinRoom(room, { create, isPrivate = false }) {
  try {
    if (create) {
      const created = await connection.request({ command: 'create', room, ...(isPrivate ? { private: true } : {}) });
      notify(created.success, { kind: 'info' });
    }
    roomTools.noteJoined(room, await connection.request({ command: 'join', room }));
  } catch (error) {
    notify(errorText(error));
    if (error.code !== 'already_joined') return;
  }
  const conversation = state.conversation('room', room);
  if (!state.allRooms.includes(room)) state.allRooms = [...state.allRooms, room].sort();
  select(conversation.key);
  await loadNewest(conversation);
  fillView();
}

async function leaveCurrent({ confirmed = false } = {}) {
  const conversation = state?.current;
  if (!conversation) return;
  // Leaving #default is rarely meant: it is where everyone meets and where a new session lands.
  if (conversation.kind === 'room' && conversation.name === DEFAULT_ROOM && !confirmed) {
    $('leave-confirm-text').textContent = `Leave #${DEFAULT_ROOM}? It is where everyone meets.`;
    $('leave-confirm').hidden = false;
    $('leave').hidden = true;
    $('leave-confirmed').focus();
    return;
  }
  closeMenu();
  if (conversation.kind === 'room') {
    try {
      await connection.request({ command: 'leave', room: conversation.name });
    } catch (error) {
      notify(errorText(error));
      if (error.code !== 'not_a_member') return;
    }
  }
  closeConversation(conversation);
}

async function sendMessage() {
  const input = $('message-input');
  const conversation = state?.current;
  const text = input.value;
  if (!conversation || text.trim().length === 0) return;
  if (!connection?.connected) {
    notify('Not connected: your message was not sent. It is still in the box; send it again once connected.');
    return;
  }
  input.value = '';
  const target = conversation.kind === 'room' ? { room: conversation.name } : { to: conversation.name };
  try {
    // The echo (a broadcast) shows the message; the ok reply only confirms it.
    await connection.request({ ...target, message: text });
  } catch (error) {
    notify(error === DISCONNECTED ? 'Connection lost: the message may not have been sent.' : errorText(error));
    if (error !== DISCONNECTED && input.value === '') input.value = text;
  }
}

function sendTyping() {
  const conversation = state?.current;
  const now = Date.now();
  if (!conversation || !typingSupported || !connection?.connected || now - lastTypingSent < TYPING_EVERY_MS) return;
  lastTypingSent = now;
  const target = conversation.kind === 'room' ? { room: conversation.name } : { to: conversation.name };
  // Typing has no reply; the ref only lets us notice a server that does not know the command and stop asking.
  connection.request({ command: 'typing', ...target }, { expectReply: false }).catch((error) => {
    if (error.code === 'unknown_command') typingSupported = false;
    else if (error !== DISCONNECTED) notify(errorText(error));
  });
}

// ---------------------------------------------------------------- persistence of private conversations

function storedPrivates(me) {
  try {
    const users = JSON.parse(localStorage.getItem(`tinychat.pms.${me}`) ?? '[]');
    return Array.isArray(users) ? users.filter((u) => typeof u === 'string') : [];
  } catch {
    return [];
  }
}

function rememberPrivates() {
  if (!state?.me) return;
  localStorage.setItem(`tinychat.pms.${state.me}`, JSON.stringify(state.privates().map((c) => c.name)));
}

function currentKeyStorage(me) {
  return `tinychat.current.${me}`;
}

// ---------------------------------------------------------------- wiring

function closeMenu() {
  $('conv-menu').hidden = true;
  $('conv-menu-toggle').setAttribute('aria-expanded', 'false');
  $('leave-confirm').hidden = true;
  $('leave').hidden = false;
  roomTools?.menuClosed();
}

function toggleMenu() {
  const open = $('conv-menu').hidden;
  closeMenu();
  $('conv-menu').hidden = !open;
  $('conv-menu-toggle').setAttribute('aria-expanded', String(open));
  if (open) $('leave').focus();
}

/** The list of every room, fetched afresh (rooms come and go). */
async function openRoomBrowser() {
  if (!state) return;
  closeDrawers();
  $('room-browser').hidden = false;
  $('scroller').hidden = true;
  renderBrowser();
  $('room-browser-close').focus();
  try {
    const reply = await connection.request({ command: 'rooms' });
    if (!state) return;
    state.allRooms = reply.rooms;
    state.roomDetails = reply.details ?? [];
    renderBrowser();
    renderSidebar(state, select);
  } catch (error) {
    if (error !== DISCONNECTED) notify(errorText(error));
  }
}

function renderBrowser() {
  renderRoomBrowser(state, {
    onJoin: (room) => void joinRoom(room, { create: false }),
    onOpen: (room) => select(roomKey(room)),
  });
}

function closeRoomBrowser() {
  $('room-browser').hidden = true;
  $('scroller').hidden = false;
}

/** #default, created first if this server has none (a fresh data directory may have no rooms at all). */
async function joinDefault() {
  if (!connection?.connected) {
    notify('Not connected: wait for the connection to come back, then try again.');
    return;
  }
  const create = !state.allRooms.includes(DEFAULT_ROOM);
  await joinRoom(DEFAULT_ROOM, { create: create && !(await roomExists(DEFAULT_ROOM)) });
}

async function roomExists(room) {
  try {
    const reply = await connection.request({ command: 'rooms' });
    if (state) state.allRooms = reply.rooms;
    return reply.rooms.includes(room);
  } catch {
    return true; // let the join report what is wrong
  }
}

function toggleForm(toggle, form) {
  const open = form.hidden;
  form.hidden = !open;
  toggle.setAttribute('aria-expanded', String(open));
  if (open) form.querySelector('input').focus();
}

function closeDrawers() {
  document.body.classList.remove('show-sidebar', 'show-online');
  $('sidebar-toggle').setAttribute('aria-expanded', 'false');
  $('online-toggle').setAttribute('aria-expanded', 'false');
}

function togglePanel(className, toggle) {
  const open = document.body.classList.toggle(className);
  toggle.setAttribute('aria-expanded', String(open));
}

function wireStaticControls() {
  view = new MessageView(openPrivate);
  roomTools = new RoomTools({
    state: () => state,
    connection: () => connection,
    view,
    rerender: () => { if (state) renderAll(); },
    closeMenu,
    joinRoom: (room) => void joinRoom(room, { create: false }),
    closeConversation,
  });

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token-input').value.trim();
    if (!value) return;
    remember(value);
    connect(value);
  });
  $('register-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void register($('username-input').value.trim(), $('invite-field').hidden ? '' : $('invite-input').value.trim());
  });
  $('signout').addEventListener('click', () => signOut());
  $('retry').addEventListener('click', () => connection?.retryNow());
  $('conv-menu-toggle').addEventListener('click', toggleMenu);
  $('leave').addEventListener('click', () => void leaveCurrent());
  $('leave-confirmed').addEventListener('click', () => void leaveCurrent({ confirmed: true }));
  $('leave-cancel').addEventListener('click', closeMenu);
  $('browse-rooms').addEventListener('click', () => void openRoomBrowser());
  $('empty-browse').addEventListener('click', () => void openRoomBrowser());
  $('room-browser-close').addEventListener('click', closeRoomBrowser);
  $('empty-join-default').addEventListener('click', () => void joinDefault());
  $('browser-join-default').addEventListener('click', () => void joinDefault());

  const roomForm = $('room-form');
  $('room-form-toggle').addEventListener('click', () => toggleForm($('room-form-toggle'), roomForm));
  const submitRoom = (create) => {
    if (!roomForm.reportValidity()) return;
    const room = $('room-name').value.trim();
    const isPrivate = $('room-private').checked;
    $('room-name').value = '';
    $('room-private').checked = false;
    toggleForm($('room-form-toggle'), roomForm);
    void joinRoom(room, { create, isPrivate });
  };
  roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    submitRoom(false);
  });
  $('room-create').addEventListener('click', () => submitRoom(true));

  const pmForm = $('pm-form');
  $('pm-form-toggle').addEventListener('click', () => toggleForm($('pm-form-toggle'), pmForm));
  pmForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const user = $('pm-name').value.trim();
    $('pm-name').value = '';
    toggleForm($('pm-form-toggle'), pmForm);
    openPrivate(user);
  });

  $('sidebar-toggle').addEventListener('click', () => togglePanel('show-sidebar', $('sidebar-toggle')));
  $('online-toggle').addEventListener('click', () => togglePanel('show-online', $('online-toggle')));

  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    void sendMessage();
  });
  const input = $('message-input');
  input.addEventListener('keydown', (event) => {
    // Enter sends, Shift+Enter is a newline; never while an input method is composing.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void sendMessage();
    } else if (event.key === 'ArrowUp' && input.value === '' && roomTools.editLast()) {
      event.preventDefault(); // ↑ in an empty box edits the last message we sent here
    }
  });
  input.addEventListener('input', () => {
    if (input.value.length > 0) sendTyping();
  });

  $('load-older').addEventListener('click', () => {
    if (state?.current) void loadOlder(state.current);
  });
  view.scroller.addEventListener('scroll', () => {
    if (state?.current && view.nearTop()) void loadOlder(state.current);
  });

  // On a phone the sidebar and the online list are drawers: Escape or a tap outside closes them.
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      closeDrawers();
      closeMenu();
    }
  });
  document.addEventListener('click', (event) => {
    const inside = event.target.closest('#sidebar, #online, #sidebar-toggle, #online-toggle');
    if (!inside) closeDrawers();
    if (!event.target.closest('.menu-anchor')) closeMenu();
  });
  document.addEventListener('visibilitychange', () => {
    if (isReading() && state?.current) reading.onShown(state.current);
    if (isReading() && state?.current && state.current.unread > 0) {
      state.current.unread = 0;
      renderSidebar(state, select);
    }
  });
}

start();
