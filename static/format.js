// Message text to DOM nodes: links, `code`, ``` blocks ``` and *emphasis*. Builds nodes from plain strings and
// never parses HTML, so markup in a message always stays text.

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
const FENCE = /```\n?([\s\S]*?)\n?```/g;
// Inline code, emphasis (no spaces just inside the stars, so "2 * 3 * 4" stays arithmetic), or a link.
const INLINE = /`([^`\n]+)`|\*([^\s*](?:[^*\n]*[^\s*])?)\*|\b((?:https?:\/\/|mailto:)[^\s<>"'`]+)/gi;
const TRAILING = /[.,;:!?'"\]]+$/;

/** The href for a link the text spells, or null unless it is http, https or mailto. */
export function safeHref(text) {
  try {
    const url = new URL(text);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** Nodes for one message: code blocks, then inline formatting in the text around them. */
export function formatMessage(text) {
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(FENCE)) {
    nodes.push(...formatInline(text.slice(at, match.index)));
    const code = document.createElement('code');
    code.textContent = match[1];
    const pre = document.createElement('pre');
    pre.append(code);
    nodes.push(pre);
    at = match.index + match[0].length;
  }
  nodes.push(...formatInline(text.slice(at)));
  return nodes;
}

function formatInline(text) {
  const nodes = [];
  let at = 0;
  const plain = (until) => {
    if (until > at) nodes.push(document.createTextNode(text.slice(at, until)));
  };
  for (const match of text.matchAll(INLINE)) {
    const [whole, code, emphasis, link] = match;
    if (code !== undefined) {
      plain(match.index);
      nodes.push(element('code', code));
      at = match.index + whole.length;
    } else if (emphasis !== undefined) {
      plain(match.index);
      nodes.push(element('em', emphasis));
      at = match.index + whole.length;
    } else {
      let target = link.replace(TRAILING, '');
      // A closing parenthesis belongs to the link only when the link opened one: "(see https://x.org/a)".
      if (target.endsWith(')') && !target.includes('(')) target = target.slice(0, -1);
      const href = safeHref(target);
      if (href === null) continue;
      plain(match.index);
      const anchor = element('a', target);
      anchor.href = href;
      anchor.rel = 'noopener noreferrer';
      anchor.target = '_blank';
      nodes.push(anchor);
      at = match.index + target.length;
    }
  }
  plain(text.length);
  return nodes;
}

function element(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

/** One or two letters standing for a user name: "foo_user" → "FU", "alice" → "A". */
export function initials(name) {
  const parts = String(name).split(/[_\-.\s]+/).filter((p) => p.length > 0);
  if (parts.length === 0) return '?';
  const letters = parts.length === 1 ? parts[0][0] : parts[0][0] + parts[1][0];
  return letters.toUpperCase();
}

/** A stable colour class (hue-0 … hue-7) per name, so a person keeps their colour everywhere. */
export function hueClass(name) {
  let hash = 0;
  for (const char of String(name)) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `hue-${hash % 8}`;
}

/** "Today", "Yesterday" or a date, for the divider above the first message of a day. */
export function dayLabel(date, now = new Date()) {
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(date)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const options = { weekday: 'long', day: 'numeric', month: 'long' };
  if (date.getFullYear() !== now.getFullYear()) options.year = 'numeric';
  return new Intl.DateTimeFormat(undefined, options).format(date);
}
