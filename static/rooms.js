// Rooms a team can live in, in the web client: private rooms, roles and the moderation menus, the topic in the
// header, editing (↑ for the last own message) and deleting messages, and room events as they arrive.
// chat.js calls in at a few points (see the RoomTools hooks); everything the server refuses is shown as a notice.
import { errorText, h, notify } from './render.js';
import { DISCONNECTED } from './connection.js';
import { ROLE_RANK, applyChange, applyToDetails, isRoomEvent, isSilentEvent } from './roomevents.js';

const $ = (id) => document.getElementById(id);
const MUTES = [[600, '10 minutes'], [3_600, '1 hour'], [86_400, '1 day']];

export class RoomTools {
  #host;
  // room -> {private, topic, role, owner?, moderators?}: from the join reply, `info`, then the room's events.
  #details = new Map();
  #asking = new Set();
  #editing = null; // id of the message being edited in place

  /**
   * host: { state(), connection(), view (MessageView), rerender(), closeMenu(), joinRoom(room), closeConversation(c) } — what chat.js
   * owns and this module uses.
   */
  constructor(host) {
    this.#host = host;
    host.view.decorate = (row, message) => this.#decorateMessage(row, message);
    this.#wire();
  }

  // ------------------------------------------------------------ hooks called by chat.js

  /** The join reply says whether the room is private, its topic and our role. */
  noteJoined(room, reply) {
    if (typeof reply?.role !== 'string') return;
    // Enough for the header at once; `info` then adds the owner and the moderators.
    this.#details.set(room, { ...this.#details.get(room), private: !!reply.private, topic: reply.topic ?? '', role: reply.role, partial: true });
  }

  /**
   * A room event for a room we hold no conversation of: an invitation for us (offered as a notice with a Join
   * button). Returns true when handled.
   */
  onOutsideEvent(frame) {
    const me = this.#host.state()?.me;
    if (frame.event !== 'invite' || frame.user !== me) return false;
    const join = h('button', { type: 'button', class: 'link', 'aria-label': `Join #${frame.room}` }, 'Join');
    join.addEventListener('click', () => this.#host.joinRoom(frame.room));
    notify(h('span', {}, `${frame.from} invited you to #${frame.room} `, join), { kind: 'info', sticky: true });
    return true;
  }

  /** Messages and events just added to a conversation (live or from history): edits and deletions take effect. */
  applied(conversation, added, { live }) {
    const me = this.#host.state()?.me;
    let detailsChanged = false;
    for (const item of added) {
      if (!isRoomEvent(item)) continue;
      if (isSilentEvent(item)) {
        const changed = applyChange(conversation, item);
        if (changed) this.#host.view.refresh(conversation, changed);
        continue;
      }
      if (!live) continue;
      applyToDetails(this.#details.get(conversation.name), item, me);
      detailsChanged ||= item.event === 'topic' || item.event === 'role';
      if (item.user === me && (item.event === 'kick' || item.event === 'ban')) {
        notify(`${item.from} ${item.event === 'ban' ? 'banned you from' : 'removed you from'} ${conversation.label}`, { kind: 'info' });
        this.#host.closeConversation(conversation);
      } else if (item.user === me && item.event === 'mute') {
        notify(`${item.from} muted you in ${conversation.label} until ${new Date(item.until).toLocaleString()}`, { kind: 'info' });
      }
    }
    if (detailsChanged) this.#host.rerender();
  }

  /** The header's menu closed: a half-confirmed room deletion is forgotten. */
  menuClosed() {
    $('delete-room-confirm').hidden = true;
    const room = this.#currentRoom();
    $('delete-room').hidden = !room || (ROLE_RANK[this.#details.get(room)?.role] ?? 0) < ROLE_RANK.admin;
  }

  /** Header, menus and the member list for the current conversation; asks for a room's details once if unknown. */
  render() {
    const state = this.#host.state();
    const conversation = state?.current;
    const room = conversation?.kind === 'room' ? conversation.name : null;
    const details = room ? this.#details.get(room) : null;
    if (room && (!details || details.partial)) void this.#ask(room);
    const rank = ROLE_RANK[details?.role] ?? 0;

    $('conv-private').hidden = !details?.private;
    const topic = $('conv-topic');
    topic.textContent = details?.topic ?? '';
    topic.title = details?.topic ?? '';
    topic.hidden = !details?.topic;
    $('room-moderation').hidden = !room || rank < ROLE_RANK.moderator;
    $('delete-room').hidden = !room || rank < ROLE_RANK.admin;
    if (!room) $('topic-form').hidden = true;
    this.#decorateMembers(room, details, state);
  }

  /** ↑ in an empty composer: edit the last message of ours in the current room. True when it started an edit. */
  editLast() {
    const conversation = this.#host.state()?.current;
    const me = this.#host.state()?.me;
    if (conversation?.kind !== 'room') return false;
    const last = conversation.messages.findLast((m) => m.from === me && !isRoomEvent(m) && !m.deleted);
    if (!last) return false;
    this.#startEdit(last);
    return true;
  }

  // ------------------------------------------------------------ details

  async #ask(room) {
    if (this.#asking.has(room)) return;
    this.#asking.add(room);
    try {
      const info = await this.#host.connection()?.request({ command: 'info', room });
      if (info) this.#details.set(room, { ...info });
      // A moderator's rows get a delete action on everyone's messages: draw them again now the role is known.
      const view = this.#host.view;
      if (info && view.conversation?.kind === 'room' && view.conversation.name === room && (ROLE_RANK[info.role] ?? 0) >= ROLE_RANK.moderator) {
        view.show(view.conversation, this.#host.state()?.me);
      }
      this.#host.rerender();
    } catch (error) {
      // A room we may not describe (left meanwhile) keeps no details; other errors are worth telling.
      if (error !== DISCONNECTED && error.code !== 'not_a_member' && error.code !== 'room_not_found') notify(errorText(error));
      // Not asked again at every render; a reconnect or an event brings what is missing.
      if (error !== DISCONNECTED) this.#details.set(room, { ...this.#details.get(room), partial: false });
    } finally {
      this.#asking.delete(room);
    }
  }

  #roleOf(details, user) {
    if (!details) return 'member';
    if (details.owner === user) return 'owner';
    return (details.moderators ?? []).includes(user) ? 'moderator' : 'member';
  }

  // ------------------------------------------------------------ commands

  async #act(frame, done) {
    try {
      const reply = await this.#host.connection().request(frame);
      done?.(reply);
      return reply;
    } catch (error) {
      if (error !== DISCONNECTED) notify(errorText(error));
      else notify('Not connected: nothing was changed.');
      return null;
    }
  }

  #currentRoom() {
    const conversation = this.#host.state()?.current;
    return conversation?.kind === 'room' ? conversation.name : null;
  }

  // ------------------------------------------------------------ the member list

  #decorateMembers(room, details, state) {
    const myRank = ROLE_RANK[details?.role] ?? 0;
    for (const item of $('online-list').children) {
      for (const old of item.querySelectorAll('.role-tag, .menu-anchor')) old.remove();
      const user = item.querySelector('.user-name')?.title;
      if (!room || !user) continue;
      const role = this.#roleOf(details, user);
      // Drawn by CSS from data-role, so the row's text stays the user's name.
      if (role !== 'member') item.append(h('span', { class: `role-tag role-${role}`, 'data-role': role, title: role, role: 'img', 'aria-label': role }));
      const targetRank = ROLE_RANK[role];
      if (user === state.me || myRank < ROLE_RANK.moderator || targetRank >= myRank) continue;
      item.append(this.#memberMenu(room, user, role, myRank));
    }
  }

  #memberMenu(room, user, role, myRank) {
    return popupMenu('member-menu', `Moderate ${user}`, (menu, item) => {
      const act = (label, frame) => item(label, () => void this.#act({ room, user, ...frame }));
      act('Kick', { command: 'kick' });
      act('Ban', { command: 'ban' });
      for (const [seconds, label] of MUTES) act(`Mute for ${label}`, { command: 'mute', seconds });
      act('Unmute', { command: 'unmute' });
      if (myRank >= ROLE_RANK.owner) {
        if (role === 'moderator') act('Make member', { command: 'role', role: 'member' });
        else act('Make moderator', { command: 'role', role: 'moderator' });
      }
    });
  }

  // ------------------------------------------------------------ messages: edit and delete

  #decorateMessage(row, message) {
    const view = this.#host.view;
    const state = this.#host.state();
    if (view.conversation?.kind !== 'room' || isRoomEvent(message) || message.deleted || !state) return;
    const mine = message.from === state.me;
    const rank = ROLE_RANK[this.#details.get(view.conversation.name)?.role] ?? 0;
    if (!mine && rank < ROLE_RANK.moderator) return;
    const room = view.conversation.name;
    const anchor = popupMenu('message-menu', 'Message actions', (menu, item) => {
      if (mine) item('Edit', () => this.#startEdit(message));
      const remove = h('button', { type: 'button', class: 'menu-item' }, 'Delete');
      remove.addEventListener('click', (event) => {
        // Two steps: a deletion cannot be undone.
        if (remove.dataset.armed !== 'yes') {
          event.stopPropagation();
          remove.dataset.armed = 'yes';
          remove.textContent = 'Delete for everyone?';
          return;
        }
        closeMenus();
        void this.#act({ command: 'delete', room, id: message.id });
      });
      menu.append(remove);
    });
    row.querySelector('.msg-head')?.append(anchor);
  }

  #startEdit(message) {
    const view = this.#host.view;
    const conversation = view.conversation;
    const row = document.querySelector(`#messages li[data-id="${message.id}"]`);
    const text = row?.querySelector('.msg-text');
    if (!conversation || !text) return;
    if (this.#editing !== null && this.#editing !== message.id) this.#stopEdit(conversation);
    this.#editing = message.id;
    const input = h('textarea', { class: 'edit-input', 'aria-label': 'Edit message', rows: '2', maxlength: '4000' });
    input.value = message.message ?? '';
    const save = h('button', { type: 'submit' }, 'Save');
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const form = h('form', { class: 'edit-form' }, input, h('div', { class: 'edit-actions' }, save, cancel, h('span', { class: 'edit-hint' }, 'Enter saves · Esc cancels')));
    const submit = async () => {
      const changed = input.value;
      if (changed.trim().length === 0 || changed === message.message) {
        this.#stopEdit(conversation);
        return;
      }
      const reply = await this.#act({ command: 'edit', room: conversation.name, id: message.id, message: changed });
      // The edit event (ours too) updates the text; until then the old text shows.
      if (reply) this.#stopEdit(conversation);
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void submit();
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void submit();
      } else if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        this.#stopEdit(conversation);
        $('message-input').focus();
      }
    });
    cancel.addEventListener('click', () => this.#stopEdit(conversation));
    text.replaceWith(form);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  #stopEdit(conversation) {
    const id = this.#editing;
    this.#editing = null;
    const message = conversation?.messages.find((m) => m.id === id);
    if (message) this.#host.view.refresh(conversation, message);
  }

  // ------------------------------------------------------------ the header's menu and topic

  #wire() {
    const room = () => this.#currentRoom();
    $('invite-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const field = $('invite-name');
      const user = field.value.trim();
      if (!room() || !user) return;
      void this.#act({ command: 'invite', room: room(), user }, () => {
        field.value = '';
        notify(`Invited ${user} to #${room()}.`, { kind: 'info' });
      });
    });
    $('unban-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const field = $('unban-name');
      const user = field.value.trim();
      if (!room() || !user) return;
      void this.#act({ command: 'unban', room: room(), user }, () => {
        field.value = '';
      });
    });
    $('topic-edit').addEventListener('click', () => {
      this.#host.closeMenu();
      const form = $('topic-form');
      form.hidden = false;
      $('topic-input').value = this.#details.get(room())?.topic ?? '';
      $('topic-input').focus();
    });
    $('topic-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const current = room();
      if (!current) return;
      void this.#act({ command: 'topic', room: current, topic: $('topic-input').value.trim() }, () => {
        $('topic-form').hidden = true;
      });
    });
    $('topic-cancel').addEventListener('click', () => {
      $('topic-form').hidden = true;
    });
    $('topic-input').addEventListener('keydown', (event) => {
      if (event.key === 'Escape') $('topic-form').hidden = true;
    });
    $('delete-room').addEventListener('click', () => {
      $('delete-room-text').textContent = `Delete #${room()} and all its messages, for everyone?`;
      $('delete-room-confirm').hidden = false;
      $('delete-room').hidden = true;
      $('delete-room-confirmed').focus();
    });
    $('delete-room-cancel').addEventListener('click', () => this.#host.closeMenu());
    $('delete-room-confirmed').addEventListener('click', () => {
      const doomed = room();
      this.#host.closeMenu();
      if (doomed) void this.#act({ command: 'delete_room', room: doomed }, () => notify(`#${doomed} was deleted.`, { kind: 'info' }));
    });
    // A click elsewhere closes the per-message and per-member menus; so does Escape.
    document.addEventListener('click', (event) => {
      if (!event.target.closest('.popup-menu')) closeMenus();
    });
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') closeMenus();
    });
  }
}

/** Removes every open per-message or per-member menu (they are built when opened, so rows hold only the button). */
function closeMenus() {
  for (const menu of document.querySelectorAll('.popup-menu')) menu.remove();
  for (const toggle of document.querySelectorAll('.popup-toggle[aria-expanded="true"]')) toggle.setAttribute('aria-expanded', 'false');
}

/**
 * A ⋯ button (its glyph drawn by CSS, so a row's text stays its own) that opens a menu built by fill(menu, item),
 * item(label, action) adding an entry that closes the menu and runs the action.
 */
function popupMenu(kind, label, fill) {
  const toggle = h('button', { type: 'button', class: `icon popup-toggle ${kind}-toggle`, 'aria-label': label, 'aria-expanded': 'false' });
  const anchor = h('span', { class: 'menu-anchor' }, toggle);
  toggle.addEventListener('click', (event) => {
    event.stopPropagation();
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    closeMenus();
    if (!open) return;
    const menu = h('div', { class: `menu popup-menu ${kind}` });
    fill(menu, (text, action) => {
      const button = h('button', { type: 'button', class: 'menu-item' }, text);
      button.addEventListener('click', () => {
        closeMenus();
        action();
      });
      menu.append(button);
    });
    anchor.append(menu);
    toggle.setAttribute('aria-expanded', 'true');
    menu.querySelector('button')?.focus();
  });
  return anchor;
}
