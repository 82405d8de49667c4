/* Sunshine Gateway citizen web chat. Plain modern JS, no dependencies, no build step.
 *
 * Speaks the "Web chat socket" protocol of INTERFACE.md over WS /channels/webchat/ws:
 * the server sends {"type":"session"} first; we send {"type":"message","text","client_id"} and get an
 * "ack" once committed, then "reply" frames (bot, operator or department), "typing" and "error".
 * Server text is only ever put into the DOM with textContent (never innerHTML): no XSS by design.
 */
"use strict";
(() => {
  const I18N = window.SUNSHINE_CHAT_I18N;
  const KEY_SESSION = "sunshine.webchat.session";
  const KEY_LANG = "sunshine.webchat.lang";
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const TYPING_SHOW_MS = 6000;
  const TYPING_SEND_EVERY_MS = 3000;
  const FROM_KEYS = new Set(["citizen", "bot", "operator", "department"]);

  const $ = (id) => document.getElementById(id);
  const log = $("log"), input = $("input"), form = $("composer"), statusEl = $("status");
  const typingEl = $("typing"), langBtn = $("lang-switch"), logBox = log.parentElement;
  const params = new URLSearchParams(location.search);
  const embedded = window.parent !== window;

  // localStorage may be unavailable (privacy modes, blocked third-party storage): degrade, don't fail.
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch { /* not persisted */ } },
  };
  const normLang = (v) => (String(v || "").toLowerCase().startsWith("en") ? "en" : "zh");
  let lang = normLang(params.get("lang") || store.get(KEY_LANG) || "zh");

  function t(key, vars) {
    let s = (I18N[lang] && I18N[lang][key]) ?? I18N.zh[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll("{" + k + "}", String(v));
    return s;
  }

  // ---- state --------------------------------------------------------------------------------
  let ws = null;
  let attempt = 0;            // consecutive failed connection attempts, for the backoff
  let retryTimer = 0;
  let typingTimer = 0;
  let lastTypingSent = 0;
  let status = { key: "status_connecting", state: "connecting", vars: null };
  const seen = new Set();     // message_ids already shown (history and live): dedupe
  const outbox = new Map();   // client_id -> {text, el}: not yet acknowledged, in send order

  // ---- rendering ----------------------------------------------------------------------------
  function setStatus(state, key, vars) {
    status = { state, key, vars };
    statusEl.dataset.state = state;
    statusEl.textContent = t(key, vars);
  }

  function fromLabel(from) { return t("from_" + (FROM_KEYS.has(from) ? from : "bot")); }

  function timeEl(at) {
    const d = at ? new Date(at) : new Date();
    const el = document.createElement("time");
    if (!Number.isNaN(d.getTime())) {
      el.dateTime = d.toISOString();
      el.textContent = d.toLocaleTimeString(t("html_lang"), { hour: "2-digit", minute: "2-digit" });
    }
    return el;
  }

  function place(li) {
    // New history items go before messages still waiting to be sent, so the log stays in order.
    const firstPending = log.querySelector('.msg-own[data-state="queued"], .msg-own[data-state="sending"]');
    log.insertBefore(li, firstPending);
    scrollDown();
  }

  // Scroll our own container only: scrollIntoView() would also scroll the host page around the widget.
  function scrollDown() { logBox.scrollTop = logBox.scrollHeight; }

  function bubble(from, text, at) {
    const li = document.createElement("li");
    li.className = "msg msg-" + (from === "citizen" ? "own" : FROM_KEYS.has(from) ? from : "bot");
    li.dataset.from = from;
    const who = document.createElement("span");
    who.className = "msg-from";
    who.textContent = fromLabel(from);
    const body = document.createElement("p");
    body.className = "msg-text";
    body.textContent = String(text ?? "");
    const meta = document.createElement("span");
    meta.className = "msg-meta";
    const state = document.createElement("span");
    state.className = "msg-state";
    meta.append(timeEl(at), state);
    li.append(who, body, meta);
    return li;
  }

  function setMsgState(li, state) {
    li.dataset.state = state;
    li.querySelector(".msg-state").textContent = t("state_" + state);
  }

  function renderOwn(text, at, state) {
    const li = bubble("citizen", text, at);
    setMsgState(li, state);
    if (state === "sent") place(li); else { log.append(li); scrollDown(); }
    return li;
  }

  function renderReply(item) {
    if (item.message_id != null) {
      if (seen.has(item.message_id)) return;
      seen.add(item.message_id);
    }
    const li = bubble(item.from || "bot", item.text, item.at);
    if (item.message_id != null) li.dataset.messageId = String(item.message_id);
    li.dataset.inquiryId = String(item.inquiry_id ?? "");
    const options = Array.isArray(item.options) ? item.options : [];
    if (options.length) {
      const group = document.createElement("div");
      group.className = "options";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", t("options_label"));
      options.forEach((o, i) => {
        const n = String(o.n ?? i + 1);
        const b = document.createElement("button");
        b.type = "button";
        b.className = "option";
        b.dataset.n = n;
        b.textContent = n + ". " + String(o.title ?? o.id ?? "");
        b.addEventListener("click", () => {
          for (const other of group.querySelectorAll("button")) other.disabled = true;
          b.setAttribute("aria-pressed", "true");
          sendText(n);
        });
        group.append(b);
      });
      li.insertBefore(group, li.querySelector(".msg-meta"));
    }
    place(li);
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    typingEl.hidden = !on;
    if (on) typingTimer = setTimeout(() => { typingEl.hidden = true; }, TYPING_SHOW_MS);
  }

  function applyLang() {
    document.documentElement.lang = t("html_lang");
    document.title = t("title");
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    }
    langBtn.textContent = t("switch_label");
    langBtn.lang = t("switch_lang");
    langBtn.setAttribute("aria-label", t("switch_aria"));
    for (const li of log.querySelectorAll(".msg")) {
      li.querySelector(".msg-from").textContent = fromLabel(li.dataset.from);
      if (li.dataset.state) setMsgState(li, li.dataset.state);
    }
    for (const g of log.querySelectorAll(".options")) g.setAttribute("aria-label", t("options_label"));
    setStatus(status.state, status.key, status.vars);
  }

  // ---- sending ------------------------------------------------------------------------------
  function uuid4() {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 §5.4 version/variant bits
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  const isOpen = () => ws !== null && ws.readyState === WebSocket.OPEN && status.state === "online";

  function transmit(clientId, item) {
    ws.send(JSON.stringify({ type: "message", text: item.text, client_id: clientId }));
    setMsgState(item.el, "sending");
  }

  function sendText(raw) {
    const text = String(raw).trim();
    if (!text) return;
    const clientId = uuid4();
    const item = { text, el: renderOwn(text, null, "queued") };
    item.el.dataset.clientId = clientId;
    outbox.set(clientId, item);
    if (isOpen()) transmit(clientId, item);
  }

  function flush() {
    // Re-send everything unacknowledged with its original client_id: an ack lost in a drop must not
    // become a second inquiry, and the server deduplicates on client_id.
    for (const [clientId, item] of outbox) transmit(clientId, item);
  }

  // ---- history ------------------------------------------------------------------------------
  function bindOwn(item) {
    // Is this "in" history item a message already on screen? Match by client_id when the server
    // echoes it, else by inquiry_id learnt from the ack.
    let li = null;
    if (item.client_id) li = log.querySelector(`.msg-own[data-client-id="${CSS.escape(item.client_id)}"]`);
    if (!li && item.inquiry_id != null) {
      li = log.querySelector(
        `.msg-own[data-inquiry-id="${CSS.escape(String(item.inquiry_id))}"]:not([data-message-id])`);
    }
    if (!li) return false;
    if (item.message_id != null) li.dataset.messageId = String(item.message_id);
    if (li.dataset.clientId && outbox.delete(li.dataset.clientId)) setMsgState(li, "sent");
    return true;
  }

  function bindReply(item) {
    // A live reply that came without a message_id is recognised in the history by its content.
    if (item.message_id == null) return false;
    for (const li of log.querySelectorAll(".msg:not(.msg-own):not([data-message-id])")) {
      if (li.dataset.from === (item.from || "bot") && li.dataset.inquiryId === String(item.inquiry_id ?? "") &&
          li.querySelector(".msg-text").textContent === String(item.text ?? "")) {
        li.dataset.messageId = String(item.message_id);
        seen.add(item.message_id);
        return true;
      }
    }
    return false;
  }

  function mergeHistory(items) {
    for (const item of Array.isArray(items) ? items : []) {
      if (item.message_id != null && seen.has(item.message_id)) continue;
      if (item.direction === "in") {
        if (item.message_id != null) seen.add(item.message_id);
        if (bindOwn(item)) continue;
        const li = renderOwn(item.text, item.at, "sent");
        if (item.message_id != null) li.dataset.messageId = String(item.message_id);
        if (item.inquiry_id != null) li.dataset.inquiryId = String(item.inquiry_id);
      } else if (!bindReply(item)) {
        renderReply(item);
      }
    }
  }

  // ---- socket -------------------------------------------------------------------------------
  function socketUrl() {
    const u = new URL("channels/webchat/ws", location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.search = "";
    u.hash = "";
    const token = store.get(KEY_SESSION);
    if (token) u.searchParams.set("session", token);
    return u.href;
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "session":
        if (typeof frame.session === "string" && frame.session) store.set(KEY_SESSION, frame.session);
        attempt = 0;
        setStatus("online", "status_online");
        mergeHistory(frame.history);
        flush();
        break;
      case "ack": {
        const item = outbox.get(frame.client_id);
        if (!item) break;
        outbox.delete(frame.client_id);
        if (frame.inquiry_id != null) item.el.dataset.inquiryId = String(frame.inquiry_id);
        setMsgState(item.el, "sent");
        break;
      }
      case "reply":
        showTyping(false);
        renderReply(frame);
        break;
      case "typing":
        showTyping(true);
        break;
      case "error":
        setStatus("error", "status_error", { e: String(frame.error ?? "") });
        break;
      default:
        break; // unknown frame types are ignored, so the server can add some
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    if (ws) return;
    setStatus("connecting", attempt ? "status_retrying" : "status_connecting");
    const sock = new WebSocket(socketUrl());
    ws = sock;
    sock.addEventListener("message", (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame && typeof frame === "object") onFrame(frame);
    });
    sock.addEventListener("close", () => {
      if (ws !== sock) return;
      ws = null;
      for (const item of outbox.values()) setMsgState(item.el, "queued");
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    // Exponential backoff from 1 s, capped at 30 s, with up to +50 % random jitter so that
    // a restarted server is not hit by every client in the same second.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    const delay = Math.min(BACKOFF_MAX_MS, base * (1 + Math.random() * 0.5));
    attempt += 1;
    setStatus("offline", "status_offline", { s: Math.ceil(delay / 1000) });
    retryTimer = setTimeout(connect, delay);
  }

  // ---- wiring -------------------------------------------------------------------------------
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendText(input.value);
    input.value = "";
    input.style.height = "";
    input.focus();
  });
  input.addEventListener("keydown", (ev) => {
    // Enter sends, but not while an IME is composing (Chinese input confirms candidates with Enter).
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
    const now = Date.now();
    if (isOpen() && input.value && now - lastTypingSent > TYPING_SEND_EVERY_MS) {
      lastTypingSent = now;
      ws.send(JSON.stringify({ type: "typing" }));
    }
  });
  langBtn.addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    store.set(KEY_LANG, lang);
    const url = new URL(location.href);
    url.searchParams.set("lang", lang);
    history.replaceState(history.state, "", url);
    applyLang();
  });
  window.addEventListener("online", () => { if (!ws) connect(); });
  if (embedded) {
    document.documentElement.classList.add("embedded"); // the widget's panel already shows a title
    // Keys pressed inside the iframe never reach the host page: tell the widget to close.
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") window.parent.postMessage({ type: "sunshine-chat:close" }, "*");
    });
    window.addEventListener("message", (ev) => {
      if (ev.source === window.parent && ev.data && ev.data.type === "sunshine-chat:focus") input.focus();
    });
  }

  applyLang();
  connect();
})();
