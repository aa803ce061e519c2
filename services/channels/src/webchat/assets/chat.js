// Konstruct web chat page. Plain JavaScript, no dependencies: the gateway serves everything.
// Messages go out with fetch; replies come back as server-sent events, read with fetch too so
// the session token can travel in a header (an iframe on a tenant's site gets no cookies).

const base = location.pathname.endsWith("/") ? location.pathname : `${location.pathname}/`;
const embedded = new URLSearchParams(location.search).get("embed") === "1";
const agentName = document.body.dataset.agentName || "Assistant";
const maxLength = Number(document.body.dataset.maxLength) || 4000;
const tokenKey = `konstruct-webchat:${base}`;
const HEARTBEAT_TIMEOUT_MS = 45_000;

const $ = (id) => document.getElementById(id);
const els = {
  messages: $("messages"),
  conversation: $("conversation"),
  empty: $("empty"),
  typing: $("typing"),
  typingText: $("typing-text"),
  status: $("status"),
  statusText: $("status-text"),
  error: $("error"),
  errorText: $("error-text"),
  form: $("composer"),
  input: $("message"),
  send: $("send"),
  counter: $("counter"),
  close: $("close"),
};

let token = null;

// A third-party iframe may be denied storage altogether (SecurityError on mere access); the
// chat then keeps its token in memory for the life of the page.
const store = {
  get() {
    try {
      return window.sessionStorage.getItem(tokenKey);
    } catch {
      return null;
    }
  },
  set(value) {
    try {
      window.sessionStorage.setItem(tokenKey, value);
    } catch {}
  },
};
let lastEventId = null;
/** Message bubbles by id (client message id or reply id), so echoes and retries update in place. */
const shown = new Map();
/** Replies being written, by reply id: the attempt shown and its text so far (null: waiting for the next attempt). */
const drafts = new Map();
let stream = null;

class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function apiError(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {}
  const message = body.message || `The chat answered ${response.status}; try again in a moment.`;
  return new ApiError(response.status, body.error || "http_error", message, Number(response.headers.get("retry-after")) || 0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const newId = () =>
  (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`).replace(
    /[^A-Za-z0-9_-]/g,
    "",
  );

// ---------------------------------------------------------------------------------------------
// Rendering

function setStatus(state, text) {
  els.status.dataset.state = state;
  els.statusText.textContent = text;
}

function showError(message) {
  els.errorText.textContent = message;
  els.error.hidden = false;
}

function clearError() {
  els.error.hidden = true;
  els.errorText.textContent = "";
}

function setTyping(on) {
  els.typing.classList.toggle("active", on);
  els.typingText.textContent = on ? `${agentName} is typing…` : "";
  if (on) scrollToEnd();
}

function scrollToEnd() {
  els.conversation.scrollTop = els.conversation.scrollHeight;
}

const timeOf = (at) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

/** Adds or updates one message bubble; text always goes in as text, never as HTML. */
function render(id, { from, text, at, state, kind, senderName }) {
  let item = shown.get(id);
  if (!item) {
    item = document.createElement("div");
    const who = document.createElement("p");
    who.className = "visually-hidden";
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const meta = document.createElement("p");
    meta.className = "meta";
    item.append(who, bubble, meta);
    item.dataset.id = id;
    item.dataset.at = String(at);
    els.messages.append(item);
    shown.set(id, item);
    els.empty.hidden = true;
  }
  const [who, bubble, meta] = item.children;
  at = Number(item.dataset.at) || at;
  item.className = `msg msg-${from}${kind && kind !== "answer" ? ` ${kind}` : ""}${state === "failed" ? " failed" : ""}`;
  who.textContent = from === "visitor" ? "You said:" : `${senderName || agentName} said:`;
  bubble.textContent = text;
  meta.textContent = "";
  const time = document.createElement("time");
  time.dateTime = new Date(at).toISOString();
  time.textContent = timeOf(at);
  meta.append(from === "agent" ? `${senderName || agentName} · ` : "", time);
  if (state === "sending") meta.append(" · Sending…");
  if (state === "failed") {
    meta.append(` · Not sent: ${item.dataset.reason || "try again"}`);
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "link retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => send(id, text));
    meta.append(" ", retry);
  }
  scrollToEnd();
  return item;
}

// ---------------------------------------------------------------------------------------------
// Session

async function startSession() {
  const stored = store.get() ?? token;
  const response = await fetch(`${base}session`, {
    method: "POST",
    headers: stored ? { authorization: `Bearer ${stored}` } : {},
    credentials: "same-origin",
  });
  if (!response.ok) throw await apiError(response);
  const body = await response.json();
  token = body.token;
  store.set(token);
  if (!body.resumed && body.previous) {
    // A new visitor: whatever was on screen belonged to the old session.
    els.messages.replaceChildren();
    shown.clear();
    drafts.clear();
    lastEventId = null;
    els.empty.hidden = false;
    showError(
      body.previous === "expired"
        ? "Your earlier chat session expired, so this is a new conversation."
        : "Your earlier chat session was not valid here, so this is a new conversation.",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Events: server-sent events over fetch, resumed from the last id after any drop.

function onEvent(type, data, id) {
  if (id) lastEventId = id;
  if (type === "typing") {
    setTyping(Boolean(JSON.parse(data).typing));
    return;
  }
  if (type === "delta") {
    onDelta(JSON.parse(data));
    return;
  }
  if (type !== "message") return;
  const entry = JSON.parse(data);
  if (entry.kind === "visitor") {
    render(entry.messageId, { from: "visitor", text: entry.text, at: entry.at, state: "sent" });
  } else if (entry.kind === "agent") {
    // The reply as sent replaces whatever was shown while it was being written.
    drafts.set(entry.replyId, "final");
    const item = render(entry.replyId, {
      from: "agent",
      text: entry.text,
      at: entry.at,
      kind: entry.replyKind,
      senderName: entry.agentName,
    });
    item.removeAttribute("aria-busy");
  }
}

/** Attempts are `<delivery>.<call>`: the delivery of the work, then the model call within it. */
function laterAttempt(a, b) {
  // "<delivery>.<run start>.<model call>": compared part by part, as numbers.
  const as = a.split(".").map(Number);
  const bs = b.split(".").map(Number);
  for (let i = 0; i < Math.max(as.length, bs.length); i++) {
    if ((as[i] ?? 0) !== (bs[i] ?? 0)) return (as[i] ?? 0) > (bs[i] ?? 0);
  }
  return false;
}

/**
 * A piece of a reply being written. Pieces of one attempt come in order with their offset; a
 * new attempt (the agent started over: a retry, or after a crash) replaces the text from its
 * first piece. A missed piece stops the live text where it is until the reply itself arrives.
 */
function onDelta({ replyId, attempt, offset, text }) {
  let draft = drafts.get(replyId);
  if (draft === "final") return;
  // Two runs of one reply can overlap (a redelivery while a slow run still writes): the later wins.
  if (draft && draft.attempt !== attempt && !laterAttempt(attempt, draft.attempt)) return;
  if (!draft || draft.attempt !== attempt) {
    draft = { attempt, text: offset === 0 ? "" : null };
    drafts.set(replyId, draft);
  }
  if (draft.text === null || offset !== draft.text.length) {
    draft.text = null;
    return;
  }
  draft.text += text;
  setTyping(false);
  const item = render(replyId, { from: "agent", text: draft.text, at: Date.now() });
  item.classList.add("writing");
  // Screen readers wait for the whole reply rather than reading every piece.
  item.setAttribute("aria-busy", "true");
}

async function readEvents(body, signal, onActivity) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}));
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onActivity();
    buffer += value.replace(/\r\n?/g, "\n");
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      let id = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") type = val;
        else if (field === "data") data.push(val);
        else if (field === "id") id = val;
      }
      if (data.length > 0) onEvent(type, data.join("\n"), id);
      end = buffer.indexOf("\n\n");
    }
  }
}

async function runEvents() {
  let delay = 1000;
  for (;;) {
    const controller = new AbortController();
    let watchdog = null;
    const onActivity = () => {
      clearTimeout(watchdog);
      // No heartbeat for this long: the connection is dead even if the socket does not know.
      watchdog = setTimeout(() => controller.abort(), HEARTBEAT_TIMEOUT_MS);
    };
    stream = controller;
    try {
      const headers = { accept: "text/event-stream", authorization: `Bearer ${token}` };
      if (lastEventId) headers["last-event-id"] = lastEventId;
      const response = await fetch(`${base}events`, { headers, signal: controller.signal, cache: "no-store" });
      if (response.status === 401) {
        await startSession();
        continue;
      }
      if (!response.ok) throw await apiError(response);
      setStatus("online", "Online");
      delay = 1000;
      onActivity();
      await readEvents(response.body, controller.signal, onActivity);
    } catch (error) {
      if (error instanceof ApiError && error.status !== 503) showError(error.message);
    } finally {
      clearTimeout(watchdog);
    }
    setStatus("offline", "Reconnecting…");
    await sleep(delay);
    delay = Math.min(delay * 2, 15_000);
  }
}

// ---------------------------------------------------------------------------------------------
// Sending

async function send(id, text) {
  const item = render(id, { from: "visitor", text, at: Date.now(), state: "sending" });
  clearError();
  for (let attempt = 0; attempt < 2; attempt++) {
    let response;
    try {
      response = await fetch(`${base}messages`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ clientMessageId: id, text }),
      });
    } catch {
      return fail(id, text, item, "The chat could not be reached. Check your connection and retry.");
    }
    if (response.ok) {
      render(id, { from: "visitor", text, at: Date.now(), state: "sent" });
      return;
    }
    const error = await apiError(response);
    // An expired session is renewed once; the same message id keeps the retry idempotent.
    if (response.status === 401 && attempt === 0) {
      await startSession().catch(() => {});
      stream?.abort();
      continue;
    }
    return fail(id, text, item, error.message);
  }
}

function fail(id, text, item, message) {
  item.dataset.reason = message.replace(/\.$/, "");
  render(id, { from: "visitor", text, at: Date.now(), state: "failed" });
  showError(message);
}

function updateCounter() {
  const length = [...els.input.value].length;
  els.counter.textContent = length > maxLength * 0.8 ? `${length} / ${maxLength}` : "";
  els.counter.classList.toggle("over", length > maxLength);
  els.input.style.height = "auto";
  els.input.style.height = `${Math.min(els.input.scrollHeight + 2, window.innerHeight * 0.4)}px`;
}

// The text box works from the first moment, so nothing typed while the session starts is lost;
// a message sent before then goes out as soon as the session is ready.
let ready = false;
let submitWhenReady = false;

els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!ready) {
    submitWhenReady = true;
    return;
  }
  const text = els.input.value.trim();
  if (!text) {
    showError("Write a message before sending.");
    els.input.focus();
    return;
  }
  const length = [...text].length;
  if (length > maxLength) {
    showError(`Messages can be at most ${maxLength} characters; this one has ${length}. Shorten it or split it into several.`);
    els.input.focus();
    return;
  }
  els.input.value = "";
  updateCounter();
  els.input.focus();
  void send(newId(), text);
});

els.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    els.form.requestSubmit();
  }
});
els.input.addEventListener("input", updateCounter);
$("error-dismiss").addEventListener("click", () => {
  clearError();
  els.input.focus();
});

if (embedded) {
  document.body.classList.add("embedded");
  els.close.hidden = false;
  const close = () => parent.postMessage({ type: "konstruct-webchat:close" }, "*");
  els.close.addEventListener("click", close);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
}

// ---------------------------------------------------------------------------------------------
// Start

async function start() {
  for (let delay = 1000, failed = false; ; delay = Math.min(delay * 2, 15_000)) {
    try {
      if (failed) clearError();
      await startSession();
      break;
    } catch (error) {
      failed = true;
      setStatus("offline", "Offline");
      showError(error instanceof ApiError ? error.message : "The chat could not be reached. Retrying…");
      await sleep(delay);
    }
  }
  ready = true;
  els.send.disabled = false;
  if (!embedded) els.input.focus();
  void runEvents();
  if (submitWhenReady) els.form.requestSubmit();
}

if (!embedded) els.input.focus();
void start();
