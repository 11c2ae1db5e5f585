// What the client knows: conversations with their messages, unread counts, presence and typing.
// Plain data and rules (dedupe, ordering, presence merging); no DOM and no socket.

export const roomKey = (room) => `room:${room}`;
export const pmKey = (user) => `pm:${user}`;

const TYPING_SHOWN_MS = 3_000;

/** One room or private conversation. Messages are kept sorted by id and never held twice. */
export class Conversation {
  constructor(kind, name) {
    this.kind = kind; // 'room' | 'pm'
    this.name = name; // room name, or the other user
    this.key = kind === 'room' ? roomKey(name) : pmKey(name);
    this.messages = [];
    this.ids = new Set();
    this.unread = 0;
    // Until a page comes back short, there may be older messages on the server.
    this.hasOlder = true;
    this.loadingOlder = false;
    // True once a history page was fetched, so lastId is a trustworthy starting point for catch-up.
    this.baseline = false;
    this.typing = new Map(); // user -> expiry (ms since epoch)
    this.draft = ''; // unsent composer text while another conversation is shown
    // Join and leave lines: {id, time, joined: [], left: []}, id placed just after the message they followed.
    this.events = [];
  }

  get label() {
    return this.kind === 'room' ? `#${this.name}` : this.name;
  }

  get lastId() {
    return this.messages.length > 0 ? this.messages[this.messages.length - 1].id : 0;
  }

  get oldestId() {
    return this.messages.length > 0 ? this.messages[0].id : null;
  }

  /** Adds messages, ignoring ids already held; returns the ones that were new, oldest first. */
  add(messages) {
    const added = [];
    for (const message of messages) {
      if (typeof message.id !== 'number' || this.ids.has(message.id)) continue;
      this.ids.add(message.id);
      added.push(message);
    }
    if (added.length === 0) return added;
    const wasOrdered = added.every((m, i) => i === 0 || added[i - 1].id < m.id);
    const appendsAtEnd = wasOrdered && added[0].id > this.lastId;
    this.messages.push(...added);
    if (!appendsAtEnd) this.messages.sort((a, b) => a.id - b.id);
    added.sort((a, b) => a.id - b.id);
    return added;
  }

  /**
   * Records that someone came or went; consecutive ones share one line (the last event, while no message
   * followed it). Returns the event to show.
   */
  addPresenceEvent(user, kind, now = Date.now()) {
    let event = this.events[this.events.length - 1];
    if (!event || event.id < this.lastId) {
      event = { id: this.lastId + 0.5, time: now, joined: [], left: [] };
      this.events.push(event);
    }
    event.joined = event.joined.filter((u) => u !== user);
    event.left = event.left.filter((u) => u !== user);
    (kind === 'joined' ? event.joined : event.left).push(user);
    event.time = now;
    return event;
  }

  /** Forgets every message (after a gap too big to fill). */
  reset() {
    this.events = [];
    this.messages = [];
    this.ids.clear();
    this.hasOlder = true;
    this.baseline = false;
  }

  setTyping(user, now = Date.now()) {
    this.typing.set(user, now + TYPING_SHOWN_MS);
  }

  clearTyping(user) {
    this.typing.delete(user);
  }

  /** Users typing right now (expired entries are dropped). */
  typingUsers(now = Date.now()) {
    for (const [user, until] of this.typing) {
      if (until <= now) this.typing.delete(user);
    }
    return [...this.typing.keys()].sort();
  }
}

export class ChatState {
  me = null;
  node = null;
  conversations = new Map(); // key -> Conversation
  currentKey = null;
  allRooms = [];
  /** Per room {room, members, online}, as the last `rooms` reply counted them. */
  roomDetails = [];
  // Set once the first rooms reply is in: before that, no conversation open only means "not loaded yet".
  synchronised = false;
  presence = new Map(); // room -> Map(user -> {online_at, connections})
  // Rooms too big to list (the server sends presence_count): how many are online, and the names paged in so far.
  presenceCount = new Map(); // room -> number
  presencePages = new Map(); // room -> {users: [name], next: name | null}
  // Rooms whose presence is from before a disconnect: shown greyed until the fresh presence_state arrives.
  stalePresence = new Set();

  get current() {
    return this.currentKey === null ? null : (this.conversations.get(this.currentKey) ?? null);
  }

  conversation(kind, name) {
    const key = kind === 'room' ? roomKey(name) : pmKey(name);
    let conversation = this.conversations.get(key);
    if (!conversation) {
      conversation = new Conversation(kind, name);
      this.conversations.set(key, conversation);
    }
    return conversation;
  }

  remove(key) {
    const conversation = this.conversations.get(key);
    this.conversations.delete(key);
    if (conversation?.kind === 'room') {
      this.presence.delete(conversation.name);
      this.stalePresence.delete(conversation.name);
    }
    if (this.currentKey === key) this.currentKey = null;
  }

  rooms() {
    return this.sorted('room');
  }

  privates() {
    return this.sorted('pm');
  }

  sorted(kind) {
    return [...this.conversations.values()].filter((c) => c.kind === kind).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Which conversation a live or history message belongs to. */
  conversationOf(message) {
    if (typeof message.room === 'string') return this.conversation('room', message.room);
    const other = message.from === this.me ? message.to : message.from;
    return this.conversation('pm', other);
  }

  /** Total unread, for the document title. */
  unreadTotal() {
    let total = 0;
    for (const c of this.conversations.values()) total += c.unread;
    return total;
  }

  // Presence: a state frame replaces what we knew; a diff applies leaves, then joins, so a user in both
  // (a new session replacing an old one) stays present with the new meta. A leave always removes: its meta is
  // the departing session's (someone who leaves the room still has open connections).
  setPresence(room, state) {
    this.presence.set(room, new Map(Object.entries(state ?? {})));
    this.presenceCount.delete(room);
    this.presencePages.delete(room);
    this.stalePresence.delete(room);
  }

  /** A room too big to list: only how many are online; names come page by page, when asked for. */
  setPresenceCount(room, online) {
    this.presence.set(room, new Map());
    this.presenceCount.set(room, online);
    this.stalePresence.delete(room);
  }

  /** How many are online in a room too big to list; undefined for a listed room. */
  countIn(room) {
    return this.presenceCount.get(room);
  }

  /** A page of a big room's names (a `who` reply with "online" and "next"), added to the pages so far. */
  addPresencePage(room, page) {
    const pages = this.presencePages.get(room) ?? { users: [], next: null };
    const known = new Set(pages.users);
    for (const user of Object.keys(page.presence_state ?? {})) if (!known.has(user)) pages.users.push(user);
    pages.next = page.next ?? null;
    this.presencePages.set(room, pages);
    this.presenceCount.set(room, page.online);
  }

  pagesOf(room) {
    return this.presencePages.get(room);
  }

  /** After a disconnect: what we know of who is online may be wrong until each room's state comes again. */
  markPresenceStale() {
    for (const room of this.presence.keys()) this.stalePresence.add(room);
    this.presencePages.clear();
  }

  isPresenceStale(room) {
    return room === undefined ? this.stalePresence.size > 0 : this.stalePresence.has(room);
  }

  /**
   * Applies a diff; returns who really came and went (a user in both leaves and joins replaced a session and
   * did neither), so the timeline can say so.
   */
  applyPresenceDiff(room, diff) {
    // A state always comes first (on join and on connect); a diff without one is for a room we just left.
    const users = this.presence.get(room);
    const changes = { joined: [], left: [] };
    if (!users) return changes;
    const before = new Set(users.keys());
    for (const user of Object.keys(diff?.leaves ?? {})) users.delete(user);
    for (const [user, meta] of Object.entries(diff?.joins ?? {})) users.set(user, meta);
    for (const user of users.keys()) if (!before.has(user)) changes.joined.push(user);
    for (const user of before) if (!users.has(user)) changes.left.push(user);
    return changes;
  }

  onlineIn(room) {
    return [...(this.presence.get(room)?.keys() ?? [])].sort((a, b) => a.localeCompare(b));
  }

  /** Online in any room we share (the only presence the server tells us about). */
  isOnline(user) {
    for (const users of this.presence.values()) if (users.has(user)) return true;
    return false;
  }
}
