// Reading: @mentions (highlighted, completed, notified), read positions the server keeps for every tab and device,
// the server's list of private conversations, and search with a jump to the message in its context.
// chat.js owns the session; it calls the hooks below and gives this module what it needs through `app`.
import { errorText, h, notify } from './render.js';
import { pmKey, roomKey } from './state.js';

const NAME = '[A-Za-z0-9_-]{1,32}';
// An @ at the start or after a character that cannot be part of a name (so mail@example.com mentions nobody).
const MENTION = new RegExp(`(^|[^A-Za-z0-9_.-])@(${NAME})(?![A-Za-z0-9_-])`, 'g');
const CONTEXT = 25; // messages shown around a search hit, on each side
const FORWARD_PAGE = 200;
const FORWARD_PAGES = 5;
const SUGGESTIONS = 8;
const $ = (id) => document.getElementById(id);

/** A count as a badge shows it: the server stops counting at 1,000. */
export function badgeText(count) {
  return count >= 1000 ? '999+' : String(count);
}

export class Reading {
  #app;
  #query = '';
  #next = null;
  #suggestion = { items: [], index: 0, start: 0 };

  /**
   * @param app {{ state: () => any, connection: () => any, select: (key: string) => void,
   *   receive: (conversation: any, messages: any[], options: {live: boolean}) => void, render: () => void }}
   */
  constructor(app) {
    this.#app = app;
    this.#buildSearch();
    this.#buildNotifications();
    this.#watchMessages();
    this.#wireCompletion();
  }

  // ------------------------------------------------------------ hooks called by chat.js

  /** A frame this module handles (`mention`, `read`); true when it was one. */
  onFrame(frame) {
    const state = this.#app.state();
    if (!state) return false;
    if (frame.mention && typeof frame.mention === 'object') {
      this.#onMention(state, frame.mention);
      return true;
    }
    if (frame.read && typeof frame.read === 'object' && !('ref' in frame)) {
      this.#onRead(state, frame.read);
      return true;
    }
    return false;
  }

  /**
   * After a (re)connect has caught up: the server's counts per joined room (from the `rooms` reply) and its list of
   * private conversations replace what this tab counted, except for messages it holds beyond the server's position.
   */
  async onSynchronised(state, details) {
    for (const detail of details ?? []) {
      const conversation = state.conversations.get(roomKey(detail.room));
      if (conversation && typeof detail.unread === 'number') this.#apply(conversation, detail.last_read, detail.unread, detail.mentions);
    }
    try {
      const reply = await this.#app.connection().request({ command: 'conversations' });
      if (state !== this.#app.state()) return;
      for (const listed of reply.conversations) {
        const conversation = state.conversation('pm', listed.with);
        this.#apply(conversation, listed.last_read, listed.unread, 0);
      }
    } catch (error) {
      if (error?.code) notify(errorText(error));
    }
    if (state.current) this.onShown(state.current);
    this.#app.render();
  }

  /** Messages were added to a conversation: the one being read is read up to its newest message. */
  onReceived(conversation) {
    const state = this.#app.state();
    if (conversation === state?.current && document.visibilityState === 'visible') this.markRead(conversation);
  }

  /** A conversation is shown (selected, or the tab became visible): it is read, on every tab and device. */
  onShown(conversation) {
    this.#closeSearch();
    if (!conversation || document.visibilityState !== 'visible') return;
    conversation.mentions = 0;
    this.markRead(conversation);
  }

  /** Tells the server the conversation is read up to its newest message held (once per message). */
  markRead(conversation) {
    const id = conversation.lastId;
    if (!id || id <= (conversation.readSent ?? 0)) return;
    conversation.readSent = id;
    const frame = conversation.kind === 'room'
      ? { command: 'read', room: conversation.name, id }
      : { command: 'read', with: conversation.name, id };
    this.#app.connection()?.request(frame).catch((error) => {
      conversation.readSent = 0;
      // A conversation that went away answers not_a_member / room_not_found; chat.js handles that elsewhere.
      if (error?.code === 'unavailable') notify(errorText(error));
    });
  }

  // ------------------------------------------------------------ counts

  // The server's position and counts, plus what this tab holds beyond the position that the counts may predate.
  #apply(conversation, position, unread, mentions) {
    const state = this.#app.state();
    const after = conversation.messages.filter((m) => m.id > position && m.from !== state.me && !m.deleted);
    conversation.unread = Math.max(unread, after.length);
    conversation.mentions = Math.max(mentions ?? 0, after.filter((m) => this.#mentionsMe(m.message)).length);
    conversation.readSent = Math.max(conversation.readSent ?? 0, position);
    if (conversation === state.current && document.visibilityState === 'visible') {
      conversation.unread = 0;
      conversation.mentions = 0;
    }
  }

  #onRead(state, read) {
    const key = typeof read.room === 'string' ? roomKey(read.room) : pmKey(read.with);
    const conversation = state.conversations.get(key);
    if (!conversation) return;
    this.#apply(conversation, read.id, read.unread, read.mentions ?? 0);
    this.#app.render();
  }

  #onMention(state, mention) {
    const conversation = state.conversations.get(roomKey(mention.room));
    const reading = conversation && conversation === state.current && document.visibilityState === 'visible';
    if (conversation && !reading) conversation.mentions = (conversation.mentions ?? 0) + 1;
    this.#app.render();
    if (document.visibilityState === 'hidden' && 'Notification' in window && Notification.permission === 'granted') {
      const shown = new Notification(`${mention.from} mentioned you in #${mention.room}`, { body: mention.message, tag: `tinychat-${mention.room}-${mention.id}` });
      shown.addEventListener('click', () => {
        window.focus();
        this.#app.select(roomKey(mention.room));
        shown.close();
      });
    }
  }

  #mentionsMe(text) {
    const me = this.#app.state()?.me;
    if (!me || typeof text !== 'string') return false;
    for (const match of text.matchAll(MENTION)) if (match[2] === me) return true;
    return false;
  }

  // ------------------------------------------------------------ desktop notifications

  #buildNotifications() {
    if (!('Notification' in window) || Notification.permission !== 'default') return;
    const button = h('button', { id: 'notify-enable', type: 'button', class: 'link' }, 'Notify me of mentions');
    button.addEventListener('click', async () => {
      await Notification.requestPermission();
      button.remove();
    });
    document.querySelector('#sidebar .me')?.append(button);
  }

  // ------------------------------------------------------------ mention highlighting

  // Rows are built by render.js; mentions are marked as rows arrive, whatever inserted them.
  #watchMessages() {
    const list = $('messages');
    if (!list) return;
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const node of change.addedNodes) {
          if (node instanceof HTMLElement && node.matches('li.msg')) this.#highlight(node);
        }
      }
    }).observe(list, { childList: true });
  }

  #highlight(row) {
    const me = this.#app.state()?.me;
    const walker = document.createTreeWalker(row.querySelector('.msg-text') ?? row, NodeFilter.SHOW_TEXT);
    const texts = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.parentElement.closest('code, pre, a')) texts.push(node);
    }
    for (const text of texts) {
      const value = text.nodeValue;
      const parts = [];
      let last = 0;
      for (const match of value.matchAll(MENTION)) {
        const at = match.index + match[1].length;
        parts.push(value.slice(last, at));
        const name = match[2];
        parts.push(h('span', { class: name === me ? 'mention me' : 'mention' }, `@${name}`));
        if (name === me) row.classList.add('mentions-me');
        last = at + name.length + 1;
      }
      if (parts.length === 0) continue;
      parts.push(value.slice(last));
      text.replaceWith(...parts.filter((p) => p !== ''));
    }
  }

  // ------------------------------------------------------------ @name completion

  #wireCompletion() {
    const input = $('message-input');
    const composer = $('composer');
    if (!input || !composer) return;
    const list = h('ul', { id: 'mention-suggestions', class: 'suggestions', role: 'listbox', 'aria-label': 'People to mention', hidden: '' });
    composer.before(list);
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', 'mention-suggestions');
    input.addEventListener('input', () => this.#suggest(input, list));
    input.addEventListener('blur', () => setTimeout(() => this.#closeSuggestions(list), 150));
    // Capture: the choice is taken before chat.js's Enter sends the message.
    composer.addEventListener('keydown', (event) => {
      if (list.hidden || event.target !== input) return;
      const items = this.#suggestion.items;
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        this.#suggestion.index = (this.#suggestion.index + (event.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
        this.#renderSuggestions(list, input);
      } else if (event.key === 'Enter' || event.key === 'Tab') {
        this.#complete(input, list, items[this.#suggestion.index]);
      } else if (event.key === 'Escape') {
        this.#closeSuggestions(list);
      } else {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
    }, true);
  }

  #suggest(input, list) {
    const state = this.#app.state();
    const before = input.value.slice(0, input.selectionStart);
    const typed = /(^|[^A-Za-z0-9_.-])@([A-Za-z0-9_-]{0,32})$/.exec(before);
    if (!state || !typed) {
      this.#closeSuggestions(list);
      return;
    }
    const prefix = typed[2].toLowerCase();
    const names = new Set();
    const current = state.current;
    if (current?.kind === 'room') for (const user of state.onlineIn(current.name)) names.add(user);
    for (const message of current?.messages ?? []) names.add(message.from);
    for (const conversation of state.privates()) names.add(conversation.name);
    names.delete(state.me);
    const items = [...names].filter((n) => typeof n === 'string' && n.toLowerCase().startsWith(prefix)).sort().slice(0, SUGGESTIONS);
    if (items.length === 0) {
      this.#closeSuggestions(list);
      return;
    }
    this.#suggestion = { items, index: 0, start: before.length - typed[2].length - 1 };
    this.#renderSuggestions(list, input);
  }

  #renderSuggestions(list, input) {
    const { items, index } = this.#suggestion;
    list.replaceChildren(...items.map((name, i) => {
      const item = h('li', { id: `mention-option-${i}`, role: 'option', class: 'suggestion', 'aria-selected': i === index ? 'true' : 'false' }, `@${name}`);
      item.addEventListener('mousedown', (event) => {
        event.preventDefault(); // keep the focus in the composer
        this.#complete(input, list, name);
      });
      return item;
    }));
    list.hidden = false;
    input.setAttribute('aria-activedescendant', `mention-option-${index}`);
  }

  #complete(input, list, name) {
    const { start } = this.#suggestion;
    const end = input.selectionStart;
    input.value = `${input.value.slice(0, start)}@${name} ${input.value.slice(end)}`;
    const caret = start + name.length + 2;
    input.setSelectionRange(caret, caret);
    this.#closeSuggestions(list);
    input.focus();
  }

  #closeSuggestions(list) {
    list.hidden = true;
    list.replaceChildren();
    $('message-input')?.removeAttribute('aria-activedescendant');
  }

  // ------------------------------------------------------------ search

  #buildSearch() {
    const input = h('input', { id: 'search-input', type: 'search', 'aria-label': 'Search messages', placeholder: 'Search messages', maxlength: '256', autocomplete: 'off' });
    const form = h('form', { id: 'search-form', class: 'search-form', role: 'search' }, input);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#search(input.value.trim(), null);
    });
    document.querySelector('#sidebar .me')?.after(form);

    const close = h('button', { id: 'search-close', type: 'button', class: 'icon', 'aria-label': 'Close the search results' }, '×');
    close.addEventListener('click', () => this.#closeSearch());
    const more = h('button', { id: 'search-more', type: 'button', class: 'secondary', hidden: '' }, 'More results');
    more.addEventListener('click', () => void this.#search(this.#query, this.#next));
    const panel = h('section', { id: 'search-results', class: 'search-results', 'aria-labelledby': 'search-title', hidden: '' },
      h('div', { class: 'room-browser-head' }, h('h2', { id: 'search-title' }, 'Search'), close),
      h('p', { id: 'search-empty', class: 'search-empty', hidden: '' }, 'Nothing found in the rooms you are in or your conversations.'),
      h('ul', { id: 'search-list', class: 'search-list' }),
      more);
    $('room-browser')?.after(panel);
  }

  async #search(query, next) {
    if (!query || !this.#app.connection()) return;
    let reply;
    try {
      reply = await this.#app.connection().request(next ? { command: 'search', query, next } : { command: 'search', query });
    } catch (error) {
      if (error?.code) notify(errorText(error));
      return;
    }
    this.#query = query;
    this.#next = reply.next ?? null;
    const list = $('search-list');
    if (!next) list.replaceChildren();
    list.append(...reply.results.map((result) => this.#resultRow(result)));
    $('search-title').textContent = `Search: ${query}`;
    $('search-empty').hidden = list.childElementCount > 0;
    $('search-more').hidden = this.#next === null;
    $('room-browser').hidden = true;
    $('scroller').hidden = true;
    $('search-results').hidden = false;
  }

  #resultRow({ message, marks }) {
    const me = this.#app.state()?.me;
    const where = typeof message.room === 'string' ? `#${message.room}` : (message.from === me ? message.to : message.from);
    const text = String(message.message ?? '');
    const pieces = [];
    let at = 0;
    for (const [start, length] of marks ?? []) {
      if (start < at) continue;
      pieces.push(text.slice(at, start), h('mark', {}, text.slice(start, start + length)));
      at = start + length;
    }
    pieces.push(text.slice(at));
    const date = new Date(message.ts);
    const open = h('button', { type: 'button', class: 'search-hit', 'data-id': message.id },
      h('span', { class: 'search-hit-head' }, h('span', { class: 'search-hit-where' }, where), ' · ', message.from, ' · ',
        h('time', { datetime: message.ts }, date.toLocaleString())),
      h('span', { class: 'search-hit-text' }, ...pieces.filter((p) => p !== '')));
    open.addEventListener('click', () => void this.#jumpTo(message));
    return h('li', {}, open);
  }

  #closeSearch() {
    const panel = $('search-results');
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    $('scroller').hidden = false;
  }

  /** Opens the hit's conversation at the hit: the page of history around it, the message highlighted. */
  async #jumpTo(message) {
    const state = this.#app.state();
    const connection = this.#app.connection();
    if (!state || !connection) return;
    const room = typeof message.room === 'string';
    const name = room ? message.room : (message.from === state.me ? message.to : message.from);
    const conversation = state.conversation(room ? 'room' : 'pm', name);
    this.#closeSearch();
    if (!conversation.ids.has(message.id)) {
      // Only the neighbourhood of the hit is loaded: older pages load on scroll-up as usual, newer ones now.
      conversation.reset();
      conversation.loadingOlder = true; // the view must not fetch the newest page meanwhile
      this.#app.select(conversation.key);
      const base = room ? { command: 'history', room: name } : { command: 'history', with: name };
      try {
        const older = await connection.request({ ...base, before: message.id + 1, limit: CONTEXT + 1 });
        const newer = [];
        let after = message.id;
        for (let page = 0; page < FORWARD_PAGES; page++) {
          const reply = await connection.request({ ...base, after, limit: FORWARD_PAGE });
          newer.push(...reply.history);
          if (reply.history.length < FORWARD_PAGE) break;
          after = reply.history[reply.history.length - 1].id;
        }
        conversation.loadingOlder = false;
        conversation.baseline = true;
        conversation.hasOlder = older.history.length > CONTEXT;
        this.#app.receive(conversation, [...older.history, ...newer], { live: false });
      } catch (error) {
        conversation.loadingOlder = false;
        if (error?.code) notify(errorText(error));
        return;
      }
    } else {
      this.#app.select(conversation.key);
    }
    const row = document.querySelector(`#messages li[data-id="${message.id}"]`);
    if (!row) return;
    row.scrollIntoView({ block: 'center' });
    row.classList.add('found');
    setTimeout(() => row.classList.remove('found'), 4000);
  }
}
