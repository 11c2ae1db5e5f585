// Turns state into DOM. Every piece of user text goes in through textContent or text nodes, never as HTML.
import { dayLabel, formatMessage, hueClass, initials } from './format.js';
import { describeRoomEvent, isRoomEvent, isSilentEvent } from './roomevents.js';

const GROUP_WINDOW_MS = 5 * 60_000;
const NEAR_BOTTOM_PX = 80;
const NOTICE_MS = 10_000;
const MAX_NOTICES = 4;

const $ = (id) => document.getElementById(id);

/** Creates an element; attrs are set as attributes (class, aria-*, data-*, type, …), children appended as nodes or text. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

function localTime(date) {
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return (sameDay ? timeFormat : dateTimeFormat).format(date);
}

export function showScreen(name) {
  $('signin').hidden = name !== 'signin';
  $('app').hidden = name !== 'app';
}

export function showSignInError(text) {
  $('signin-error').textContent = text ?? '';
}

export function renderMe(me, node) {
  $('me-name').textContent = me ?? '';
  $('me-name').title = me ?? '';
  if (node !== undefined) $('me-node').textContent = node ? `on ${node}` : '';
}

/** Connection state in the header; the retry button only while waiting to reconnect. */
export function renderStatus(status) {
  const element = $('conn-status');
  element.dataset.state = status.state;
  const seconds = Math.max(1, Math.round((status.delayMs ?? 0) / 1000));
  const why = status.reason ? ` (${status.reason})` : '';
  element.textContent = {
    connecting: 'Connecting…',
    connected: 'Connected',
    waiting: `Disconnected${why}, reconnecting in ${seconds} s`,
    offline: 'Offline',
  }[status.state] ?? status.state;
  $('retry').hidden = status.state !== 'waiting';
  $('me-dot').classList.toggle('online', status.state === 'connected');
  $('composer').classList.toggle('offline', status.state !== 'connected');
}

/** A dismissible line above the messages: errors from the server, or information such as a new token (text or nodes). */
export function notify(text, { kind = 'error', sticky = false } = {}) {
  const list = $('notices');
  const close = h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss' }, '×');
  const item = h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('span', {}, text), close);
  close.addEventListener('click', () => item.remove());
  list.append(item);
  while (list.children.length > MAX_NOTICES) list.firstElementChild.remove();
  if (!sticky) setTimeout(() => item.remove(), NOTICE_MS);
}

export function errorText(frame) {
  return frame.code ? `${frame.error} (${frame.code})` : String(frame.error);
}

/**
 * Sidebar: rooms and private conversations, with unread badges and the current one marked. Rows are updated in
 * place when the list itself did not change, so a keyboard user's focus survives incoming messages.
 */
export function renderSidebar(state, onSelect) {
  const fill = (button, conversation) => {
    // The server counts up to 1,000 (docs/protocol.md, Reading).
    const badge = conversation.unread > 0
      ? h('span', { class: 'badge', 'aria-label': `${conversation.unread} unread` }, conversation.unread >= 1000 ? '999+' : String(conversation.unread))
      : null;
    const mentioned = conversation.mentions > 0
      ? h('span', { class: 'mention-badge', 'aria-label': `${conversation.mentions} mentioning you` }, `@${conversation.mentions >= 1000 ? '999+' : conversation.mentions}`)
      : null;
    const dot = conversation.kind === 'pm'
      ? h('span', { class: state.isOnline(conversation.name) ? 'dot online' : 'dot', 'aria-hidden': 'true' })
      : null;
    // Long names are cut with an ellipsis; the tooltip tells the whole name.
    button.replaceChildren(...[dot, h('span', { class: 'conv-name', title: conversation.label }, conversation.label), mentioned, badge].filter(Boolean));
    if (conversation.key === state.currentKey) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
    button.parentElement.classList.toggle('unread', conversation.unread > 0);
  };
  const row = (conversation) => {
    const button = h('button', { type: 'button', class: 'conv', 'data-key': conversation.key });
    button.addEventListener('click', () => onSelect(conversation.key));
    const item = h('li', {}, button);
    fill(button, conversation);
    return item;
  };
  const update = (list, conversations) => {
    const shown = [...list.querySelectorAll('.conv')];
    const same = shown.length === conversations.length && shown.every((b, i) => b.dataset.key === conversations[i].key);
    if (same) shown.forEach((button, i) => fill(button, conversations[i]));
    else list.replaceChildren(...conversations.map(row));
  };
  update($('room-list'), state.rooms());
  update($('pm-list'), state.privates());
  $('pm-list').classList.toggle('stale', state.isPresenceStale());
  $('known-rooms').replaceChildren(...state.allRooms.map((room) => h('option', { value: room })));
  const unread = state.unreadTotal();
  document.title = unread > 0 ? `(${unread}) TinyChat` : 'TinyChat';
}

/** Header, composer label and online list of the current conversation. */
export function renderHeader(state) {
  const conversation = state.current;
  $('conv-title').textContent = conversation ? conversation.label : 'TinyChat';
  $('conv-menu-toggle').hidden = !conversation;
  $('leave').textContent = conversation?.kind === 'room' ? 'Leave room' : 'Close conversation';
  $('empty-state').hidden = conversation !== null || !state.synchronised;
  const input = $('message-input');
  const label = conversation ? `Message ${conversation.label}` : 'Message';
  input.setAttribute('aria-label', label);
  input.placeholder = label;
  input.disabled = !conversation;
  $('send').disabled = !conversation;
}

/**
 * Who is online in the current room (or whether the other user of a private conversation is). A room too big to
 * list shows how many, the names paged in so far, and a button for the next page.
 */
export function renderOnline(state, onMessageUser, onShowMore = () => {}) {
  const conversation = state.current;
  let users = [];
  const count = conversation?.kind === 'room' ? state.countIn(conversation.name) : undefined;
  const pages = count !== undefined ? state.pagesOf(conversation.name) : undefined;
  if (count !== undefined) users = pages?.users ?? [];
  else if (conversation?.kind === 'room') users = state.onlineIn(conversation.name);
  else if (conversation?.kind === 'pm') users = [state.me, conversation.name].filter((u) => u === state.me || state.isOnline(u));
  const where = conversation ? ` in ${conversation.label}` : '';
  const total = count ?? users.length;
  $('online-title').textContent = `Online — ${total}`;
  $('online-toggle').textContent = `Online (${total})`;
  $('online').setAttribute('aria-label', `Online${where}`);
  // While disconnected the list is what we last knew: greyed until the server tells us again.
  const stale = conversation?.kind === 'room' ? state.isPresenceStale(conversation.name) : state.isPresenceStale();
  $('online').classList.toggle('stale', stale);
  $('online-stale').hidden = !stale;
  $('online-list').replaceChildren(...users.map((user) => {
    if (user === state.me) {
      return h('li', { class: 'online-user me' }, h('span', { class: 'dot online', 'aria-hidden': 'true' }), h('span', { class: 'user-name', title: user }, user), h('span', { class: 'you' }, ' (you)'));
    }
    const button = h('button', { type: 'button', class: 'link user-name', title: user, 'aria-label': `Message ${user} privately` }, user);
    button.addEventListener('click', () => onMessageUser(user));
    return h('li', { class: 'online-user' }, h('span', { class: 'dot online', 'aria-hidden': 'true' }), button);
  }));
  const big = $('online-big');
  big.hidden = count === undefined;
  $('online-more').hidden = count === undefined;
  if (count !== undefined) {
    $('online-big-note').textContent = `${count} online: too many to list as they come and go.`;
    const more = $('online-more');
    more.hidden = pages !== undefined && pages.next === null;
    more.textContent = pages === undefined ? 'Show who is here' : 'Show more';
    more.onclick = () => onShowMore(conversation.name);
  }
}

/**
 * The room browser: every room on the server with Join (or Open for rooms already joined). With no rooms at all
 * it offers #default, where everyone meets.
 */
export function renderRoomBrowser(state, { onJoin, onOpen }) {
  const joined = new Set(state.rooms().map((c) => c.name));
  const rooms = [...new Set([...state.allRooms, ...joined])].sort((a, b) => a.localeCompare(b));
  $('room-browser-empty').hidden = rooms.length > 0;
  $('room-browser-list').replaceChildren(...rooms.map((room) => {
    const isIn = joined.has(room);
    const action = isIn
      ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Open #${room}` }, 'Open')
      : h('button', { type: 'button', 'aria-label': `Join #${room}` }, 'Join');
    action.addEventListener('click', () => (isIn ? onOpen(room) : onJoin(room)));
    const counts = state.roomDetails.find((d) => d.room === room);
    return h('li', { class: 'room-row' },
      h('span', { class: 'room-row-name', title: `#${room}` }, `#${room}`),
      counts ? h('span', { class: 'room-row-counts' }, `${counts.members} ${counts.members === 1 ? 'member' : 'members'} · ${counts.online} online`) : null,
      isIn ? h('span', { class: 'room-row-note' }, 'joined') : null,
      action);
  }));
}

export function renderTyping(conversation) {
  const users = conversation ? conversation.typingUsers() : [];
  $('typing').textContent =
    users.length === 0 ? '' :
    users.length === 1 ? `${users[0]} is typing…` :
    users.length <= 3 ? `${users.join(', ')} are typing…` : 'Several people are typing…';
}

/**
 * The message list of the current conversation. Messages are inserted in place (not re-rendered), so scroll
 * position and text selection survive new messages; grouping is a class on each row, recomputed around inserts.
 */
export class MessageView {
  #scroller = $('scroller');
  #list = $('messages');
  #conversation = null;
  #me = null;
  #onSender;
  /** Adds controls to a message's row once built (rooms.js: the edit and delete menu); (row, message) => void. */
  decorate = null;

  constructor(onSender) {
    this.#onSender = onSender;
    $('jump-latest').addEventListener('click', () => this.scrollToBottom());
    this.#scroller.addEventListener('scroll', () => {
      if (this.nearBottom()) $('jump-latest').hidden = true;
    });
  }

  get scroller() {
    return this.#scroller;
  }

  get conversation() {
    return this.#conversation;
  }

  nearBottom() {
    const s = this.#scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  nearTop() {
    return this.#scroller.scrollTop < NEAR_BOTTOM_PX;
  }

  /** Needs more history to fill the view (so scrolling up is even possible)? */
  underfilled() {
    return this.#scroller.scrollHeight <= this.#scroller.clientHeight + NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.#scroller.scrollTop = this.#scroller.scrollHeight;
    $('jump-latest').hidden = true;
  }

  /** Shows a conversation from scratch, scrolled to the newest message. */
  show(conversation, me) {
    this.#conversation = conversation;
    this.#me = me;
    this.#list.replaceChildren();
    if (conversation) this.#insert([...conversation.messages, ...conversation.events].sort((a, b) => a.id - b.id));
    this.renderEdge();
    this.scrollToBottom();
  }

  /** Adds messages (already deduplicated by the state) to the list if they belong to the conversation shown. */
  add(conversation, messages) {
    if (conversation !== this.#conversation || messages.length === 0) return;
    const wasAtBottom = this.nearBottom();
    const firstShown = this.#list.firstElementChild;
    const prepending = firstShown !== null && messages[messages.length - 1].id < Number(firstShown.dataset.id);
    const before = this.#scroller.scrollHeight;
    this.#insert(messages);
    this.renderEdge();
    if (prepending) {
      // Older history went in above: keep the message the reader was looking at where it was.
      this.#scroller.scrollTop += this.#scroller.scrollHeight - before;
    } else if (wasAtBottom || messages.some((m) => m.from === this.#me)) {
      this.scrollToBottom();
    } else {
      $('jump-latest').hidden = false;
    }
  }

  /** Shows a join/leave line (new, or grown by one more person) if it belongs to the conversation shown. */
  showEvent(conversation, event) {
    if (conversation !== this.#conversation) return;
    const wasAtBottom = this.nearBottom();
    this.#list.querySelector(`li[data-id="${event.id}"]`)?.remove();
    this.#insert([event]);
    if (wasAtBottom) this.scrollToBottom();
  }

  /** Renders a held message again after it changed (edited, deleted), if it is shown. */
  refresh(conversation, message) {
    if (conversation !== this.#conversation) return;
    const old = this.#list.querySelector(`li[data-id="${message.id}"]`);
    if (!old) return;
    const row = this.#row(message);
    old.replaceWith(row);
    this.#group(row);
  }

  /** The top of the list: a button to load older messages, or the start of the conversation. */
  renderEdge() {
    const conversation = this.#conversation;
    const more = $('load-older');
    const start = $('history-start');
    more.hidden = !conversation || !conversation.hasOlder;
    more.disabled = !!conversation?.loadingOlder;
    more.textContent = conversation?.loadingOlder ? 'Loading older messages…' : 'Load older messages';
    start.hidden = !conversation || conversation.hasOlder;
    start.textContent = conversation ? `This is the beginning of ${conversation.label}.` : '';
  }

  #insert(messages) {
    const rows = [];
    for (const message of messages) {
      const row = this.#row(message);
      // Nearly always an append (live) or a run at the top (history): search from the matching end.
      let next = null;
      if (this.#list.lastElementChild && Number(this.#list.lastElementChild.dataset.id) > message.id) {
        next = this.#list.firstElementChild;
        while (next && Number(next.dataset.id) < message.id) next = next.nextElementSibling;
      }
      this.#list.insertBefore(row, next);
      rows.push(row);
    }
    for (const row of rows) {
      this.#group(row);
      if (row.nextElementSibling) this.#group(row.nextElementSibling);
    }
  }

  // A row continues its group when the same person wrote the previous one shortly before, the same day; the
  // first row of a day shows the day's divider.
  #group(row) {
    const previous = row.previousElementSibling;
    const day = new Date(Number(row.dataset.time)).toDateString();
    const newDay = previous === null || new Date(Number(previous.dataset.time)).toDateString() !== day;
    const continued = !newDay
      && row.dataset.from !== ''
      && previous.dataset.from === row.dataset.from
      && Number(row.dataset.time) - Number(previous.dataset.time) < GROUP_WINDOW_MS;
    row.classList.toggle('continued', continued);
    row.classList.toggle('new-day', newDay);
    const divider = row.querySelector(':scope > .day-divider span');
    if (divider) divider.textContent = newDay ? dayLabel(new Date(Number(row.dataset.time))) : '';
  }

  #divider() {
    return h('div', { class: 'day-divider', role: 'separator' }, h('span'));
  }

  // "bar_user joined", "a, b and c joined · d left", "a, b and 3 others joined": many in a row stay one line.
  #eventRow(event) {
    const names = (users) => users.length <= 3
      ? users.join(', ').replace(/, ([^,]*)$/, ' and $1')
      : `${users.slice(0, 2).join(', ')} and ${users.length - 2} others`;
    const parts = [];
    if (event.joined.length > 0) parts.push(`${names(event.joined)} joined`);
    if (event.left.length > 0) parts.push(`${names(event.left)} left`);
    const everyone = [...event.joined.map((u) => `${u} joined`), ...event.left.map((u) => `${u} left`)].join('\n');
    return h('li', { class: 'event', 'data-id': event.id, 'data-from': '', 'data-time': event.time },
      this.#divider(), h('p', { class: 'event-text', title: everyone }, parts.join(' · ')));
  }

  // A moderation or topic event is a system line; an edit or deletion only changes its message (an empty row keeps
  // its place in the order).
  #roomEventRow(event) {
    const silent = isSilentEvent(event);
    return h('li', { class: silent ? 'event room-event silent' : 'event room-event', 'data-id': event.id, 'data-from': '', 'data-time': new Date(event.ts).getTime(), hidden: silent },
      this.#divider(), h('p', { class: 'event-text' }, silent ? '' : describeRoomEvent(event, this.#me)));
  }

  #row(message) {
    if (message.joined) return this.#eventRow(message);
    if (isRoomEvent(message)) return this.#roomEventRow(message);
    const date = new Date(message.ts);
    const mine = message.from === this.#me;
    let sender;
    if (mine) {
      sender = h('span', { class: 'sender', title: message.from }, message.from, h('span', { class: 'you-tag' }, 'you'));
    } else {
      sender = h('button', { type: 'button', class: 'sender', title: message.from, 'aria-label': `${message.from}, message privately` }, message.from);
      sender.addEventListener('click', () => this.#onSender(message.from));
    }
    const time = h('time', { datetime: message.ts, title: fullFormat.format(date) }, localTime(date));
    const edited = message.edited && !message.deleted
      ? h('span', { class: 'edited', title: `edited ${fullFormat.format(new Date(message.edited))}` }, '(edited)')
      : null;
    const text = message.deleted
      ? h('div', { class: 'msg-text deleted' }, 'message deleted')
      : h('div', { class: 'msg-text' }, ...formatMessage(String(message.message)));
    const row = h('li', {
      class: mine ? 'msg mine' : 'msg',
      'data-id': message.id,
      'data-from': message.from,
      'data-time': date.getTime(),
    }, this.#divider(),
    h('span', { class: `avatar ${hueClass(message.from)}`, 'aria-hidden': 'true' }, initials(message.from)),
    h('div', { class: 'msg-body' },
      h('div', { class: 'msg-head' }, sender, ' ', time, edited),
      text));
    this.decorate?.(row, message);
    return row;
  }
}
