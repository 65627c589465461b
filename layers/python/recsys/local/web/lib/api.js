// The recsys HTTP API as the demo pages use it: same origin by default (the local stack serves
// the pages and the API together), or the base URL given as ?api=... on the page.
// No dependencies; every request is a plain fetch.

const params = new URLSearchParams(location.search);
export const API_BASE = (params.get("api") || "").replace(/\/$/, "");

const KEY_STORE = "recsys.apiKey";

/** The API key for protected routes (RECSYS_API_KEY), kept in this browser only. */
export function apiKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

export function setApiKey(value) {
  if (value) localStorage.setItem(KEY_STORE, value);
  else localStorage.removeItem(KEY_STORE);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, { query, body, keepalive } = {}) {
  const url = new URL(API_BASE + path, location.href);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const key = apiKey();
  if (key) headers["X-Api-Key"] = key;
  const reply = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive: Boolean(keepalive),
  });
  const text = await reply.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!reply.ok) throw new ApiError(reply.status, data);
  return data;
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, body, opts = {}) => request("POST", path, { body, ...opts });

/** A random id; crypto.randomUUID needs a secure context, this does not. */
export function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Events go out in small batches (POST /events). Each carries its own event_id and timestamp,
 * so a batch that is retried after a network error is logged once: the server treats a known
 * event_id as a duplicate.
 */
export class EventSender {
  constructor({ flushMs = 800, maxBatch = 50, onSent = () => {} } = {}) {
    this.queue = [];
    this.inFlight = null;
    this.flushMs = flushMs;
    this.maxBatch = maxBatch;
    this.onSent = onSent;
    this.sent = 0;
    this.failed = 0;
    this.timer = null;
    addEventListener("pagehide", () => this.flush({ keepalive: true }));
  }

  push(event) {
    this.queue.push({
      event_id: randomId(),
      timestamp: Date.now() / 1000,
      ...event,
    });
    if (this.queue.length >= this.maxBatch) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.flushMs);
  }

  /** Send what is queued; resolves once the server has answered (or the send failed). */
  async flush({ keepalive = false } = {}) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) await this.inFlight;
    if (!this.queue.length) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlight = post("/events", { events: batch }, { keepalive })
      .then((reply) => {
        this.sent += batch.length;
        this.onSent(batch, reply);
      })
      .catch((err) => {
        // Bad events (422) are dropped; anything else is retried with the same ids.
        if (!(err instanceof ApiError && err.status === 422)) this.queue.unshift(...batch);
        this.failed += 1;
        console.warn("POST /events failed", err);
      })
      .finally(() => {
        this.inFlight = null;
      });
    await this.inFlight;
    if (this.queue.length && !this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs * 2);
    }
  }
}
