// Room events (moderation, topics, edits, deletions) as the timeline shows them. Plain data; no DOM and no socket.

/** How much a role may do: kick, ban and mute reach only someone of a lower rank. */
export const ROLE_RANK = Object.freeze({ member: 0, moderator: 1, owner: 2, admin: 3 });

/** Whether a frame or history item is a room event rather than a message. */
export function isRoomEvent(item) {
  return typeof item?.event === 'string';
}

/** Edits and deletions change the message they refer to; they are not lines of their own. */
export function isSilentEvent(item) {
  return item?.event === 'edit' || item?.event === 'delete';
}

const untilFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** The system line of an event ("foo_user banned bar_user"); `me` reads as "you". */
export function describeRoomEvent(event, me) {
  const who = (user) => (user === me ? 'you' : user);
  switch (event.event) {
    case 'invite': return `${event.from} invited ${who(event.user)}`;
    case 'kick': return `${event.from} removed ${who(event.user)} from the room`;
    case 'ban': return `${event.from} banned ${who(event.user)}`;
    case 'unban': return `${event.from} lifted the ban on ${who(event.user)}`;
    case 'mute': return `${event.from} muted ${who(event.user)} until ${untilFormat.format(new Date(event.until))}`;
    case 'unmute': return `${event.from} unmuted ${who(event.user)}`;
    case 'role': return `${event.from} made ${who(event.user)} ${event.role === 'moderator' ? 'a moderator' : 'a member'}`;
    case 'topic': return event.topic ? `${event.from} set the topic: ${event.topic}` : `${event.from} cleared the topic`;
    default: return `${event.from}: ${event.event}`;
  }
}

/**
 * Applies an edit or a deletion to the message it refers to, if the conversation holds it; returns that message
 * (changed in place) or null. A deleted message keeps its place as a tombstone without text.
 */
export function applyChange(conversation, event) {
  const target = conversation.messages.find((m) => m.id === event.message_id && !isRoomEvent(m));
  if (!target || target.deleted) return null;
  if (event.event === 'edit') {
    target.message = event.message;
    target.edited = event.ts;
  } else {
    target.deleted = true;
    delete target.message;
  }
  return target;
}

/** The details a room keeps after an event: its topic, and who moderates (the caller's own role included). */
export function applyToDetails(details, event, me) {
  if (!details) return;
  if (event.event === 'topic') details.topic = event.topic;
  if (event.event === 'role') {
    const moderators = new Set(details.moderators ?? []);
    if (event.role === 'moderator') moderators.add(event.user);
    else moderators.delete(event.user);
    details.moderators = [...moderators].sort();
    if (event.user === me && (ROLE_RANK[details.role] ?? 0) < ROLE_RANK.owner) details.role = event.role;
  }
}
