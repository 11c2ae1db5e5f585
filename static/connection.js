// The WebSocket link to the server: framing (batch=2), ref correlation, keep-alive pings and reconnects.
// It knows the wire format but nothing about rooms or rendering.

const PING_INTERVAL_MS = 30_000;
// Starts fast so a blip heals before anyone notices, then backs off so a down server is not hammered.
const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
// A command the server may answer with nothing (typing): forget its ref after this long.
const FIRE_AND_FORGET_MS = 10_000;

/** Rejection value for requests that never got an answer because the socket went away. */
export const DISCONNECTED = Object.freeze({ error: 'not connected to the server', code: 'disconnected' });

export class Connection {
  #url;
  #handlers;
  #ws = null;
  #pending = new Map();
  #nextRef = 1;
  #attempt = 0;
  #retryTimer = null;
  #pingTimer = null;
  #stopped = true;
  #everOpened = false;

  /**
   * @param {string} url ws:// URL including access_token and batch=2
   * @param {{onOpen(reconnected: boolean): void, onFrame(frame: object): void,
   *          onStatus(status: {state: string, delayMs?: number, reason?: string}): void,
   *          onRefused(): void}} handlers
   */
  constructor(url, handlers) {
    this.#url = url;
    this.#handlers = handlers;
  }

  get connected() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.#stopped = false;
    this.#open();
  }

  /** Closes for good (sign out): no reconnect, pending requests fail. */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    const ws = this.#ws;
    this.#teardown();
    if (ws) ws.close(1000, 'signed out');
  }

  /** Skips the rest of the backoff wait. */
  retryNow() {
    if (this.#stopped || this.#ws) return;
    clearTimeout(this.#retryTimer);
    this.#open();
  }

  /** Sends a frame without waiting for an answer; false when offline. */
  send(frame) {
    if (!this.connected) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Sends a frame with a fresh ref and resolves with the reply that carries it, or rejects with the error frame.
   * With expectReply false the promise resolves with null when no reply came (commands that only fail loudly).
   */
  request(frame, { expectReply = true } = {}) {
    if (!this.connected) return Promise.reject(DISCONNECTED);
    const ref = `c${this.#nextRef++}`;
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, timer: null };
      if (!expectReply) {
        entry.timer = setTimeout(() => {
          this.#pending.delete(ref);
          resolve(null);
        }, FIRE_AND_FORGET_MS);
      }
      this.#pending.set(ref, entry);
      this.#ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  #open() {
    this.#handlers.onStatus({ state: 'connecting' });
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    let opened = false;

    ws.addEventListener('open', () => {
      opened = true;
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.#attempt = 0;
      this.#pingTimer = setInterval(() => this.send({ command: 'ping' }), PING_INTERVAL_MS);
      this.#handlers.onStatus({ state: 'connected' });
      this.#handlers.onOpen(reconnected);
    });

    ws.addEventListener('message', (event) => {
      // With batch=2 one frame may hold several JSON objects, one per line, and a room's chat messages come as groups.
      for (const line of String(event.data).split('\n')) {
        if (line.length === 0) continue;
        let frame;
        try {
          frame = JSON.parse(line);
        } catch {
          this.#handlers.onFrame({ error: 'the server sent a frame that is not JSON', code: 'invalid_json' });
          continue;
        }
        if (Array.isArray(frame.messages) && typeof frame.room === 'string' && typeof frame.id === 'number') {
          // A group names the room, the first id and the time (ms) once: hand on the messages the other framings send.
          const ts = new Date(frame.ts).toISOString();
          frame.messages.forEach(([from, message], k) => this.#dispatch({ room: frame.room, from, message, id: frame.id + k, ts }));
          continue;
        }
        this.#dispatch(frame);
      }
    });

    ws.addEventListener('close', (event) => {
      if (this.#ws !== ws) return; // already torn down by stop()
      this.#teardown();
      if (this.#stopped) return;
      if (!opened && !this.#everOpened) {
        // The browser hides the HTTP status of a refused upgrade, so a first failure most likely means a bad token.
        this.#stopped = true;
        this.#handlers.onRefused();
        return;
      }
      const base = BACKOFF_MS[Math.min(this.#attempt, BACKOFF_MS.length - 1)];
      const delayMs = Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: tabs do not reconnect in lockstep
      this.#attempt++;
      this.#handlers.onStatus({ state: 'waiting', delayMs, reason: event.reason });
      this.#retryTimer = setTimeout(() => this.#open(), delayMs);
    });
  }

  #dispatch(frame) {
    const entry = frame.ref === undefined ? undefined : this.#pending.get(frame.ref);
    if (entry === undefined) {
      this.#handlers.onFrame(frame);
      return;
    }
    this.#pending.delete(frame.ref);
    clearTimeout(entry.timer);
    if ('error' in frame) entry.reject(frame);
    else entry.resolve(frame);
  }

  #teardown() {
    clearInterval(this.#pingTimer);
    this.#ws = null;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(DISCONNECTED);
    }
  }
}
