/* Sunshine Gateway chat widget. Integrators add:
 *   <script src="https://GATEWAY/chat/widget.js" async data-lang="en" data-title="Ask the city"></script>
 * It adds a floating button that opens the gateway's /chat page in an iframe panel.
 * Everything lives in a shadow root so the host page's CSS cannot break it (and ours cannot leak).
 * Plain JS, no dependencies; the host page's data is never read or sent anywhere.
 */
"use strict";
(() => {
  if (window.SunshineChat) return; // loaded twice: keep the first
  const script = document.currentScript ||
    Array.from(document.scripts).find((s) => /\/chat\/widget\.js(\?|#|$)/.test(s.src));
  if (!script || !script.src) return;
  const chatUrl = new URL("../chat", script.src); // .../chat/widget.js -> .../chat, same origin as src
  const origin = chatUrl.origin;
  const lang = (script.dataset.lang || "").toLowerCase().startsWith("en") ? "en" : "zh";
  const TEXT = {
    zh: { open: "在线咨询", close: "关闭" },
    en: { open: "Ask us", close: "Close" },
  }[lang];
  const title = script.dataset.title || TEXT.open;
  chatUrl.searchParams.set("embed", "1");
  if (script.dataset.lang) chatUrl.searchParams.set("lang", lang);

  const CSS = `
    :host { all: initial; }
    .launcher { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483000; font: 600 16px/1.2 system-ui, sans-serif;
      color: #fff; background: #0b5cad; border: 0; border-radius: 999px; padding: .85rem 1.25rem; cursor: pointer;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .panel { position: fixed; right: 1rem; bottom: 4.75rem; z-index: 2147483001; width: 24rem; height: min(40rem, calc(100vh - 6rem));
      display: flex; flex-direction: column; background: #fff; border-radius: .75rem; overflow: hidden;
      box-shadow: 0 8px 32px rgba(0,0,0,.3); font: 15px/1.4 system-ui, sans-serif; }
    .panel[hidden] { display: none; }
    .bar { display: flex; align-items: center; justify-content: space-between; padding: .4rem .5rem .4rem .9rem;
      background: #0b5cad; color: #fff; }
    .close { font: inherit; font-size: 1.25rem; line-height: 1; color: #fff; background: transparent; border: 0;
      min-width: 2.5rem; min-height: 2.5rem; cursor: pointer; border-radius: .375rem; }
    iframe { flex: 1 1 auto; width: 100%; border: 0; }
    :focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: auto; height: auto; border-radius: 0; }
    }`;

  const host = document.createElement("div");
  host.id = "sunshine-chat-widget";
  const root = host.attachShadow({ mode: "open" });
  const el = (tag, props) => Object.assign(document.createElement(tag), props);
  try {
    const sheet = new CSSStyleSheet(); // constructable sheets are not blocked by a host's inline-style CSP
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch {
    root.append(el("style", { textContent: CSS }));
  }

  const launcher = el("button", { type: "button", className: "launcher", textContent: title });
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "sunshine-chat-panel");
  const panel = el("div", { id: "sunshine-chat-panel", className: "panel", hidden: true });
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  const bar = el("div", { className: "bar" });
  const closeBtn = el("button", { type: "button", className: "close", textContent: "×" });
  closeBtn.setAttribute("aria-label", TEXT.close);
  bar.append(el("span", { textContent: title }), closeBtn);
  panel.append(bar);
  root.append(launcher, panel);

  let frame = null;
  const focusChat = () => {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({ type: "sunshine-chat:focus" }, origin);
  };

  function open() {
    if (!frame) {
      // Created on first open only: pages that embed the widget do not open a socket per visit.
      frame = el("iframe", { src: chatUrl.href, title });
      frame.setAttribute("allow", "clipboard-write");
      frame.addEventListener("load", focusChat);
      panel.append(frame);
    }
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    closeBtn.focus();
    focusChat();
  }

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  closeBtn.addEventListener("click", close);
  // Escape outside the iframe reaches us directly; inside it, the chat page posts a message.
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !panel.hidden) close(); });
  window.addEventListener("message", (ev) => {
    if (frame && ev.source === frame.contentWindow && ev.origin === origin &&
        ev.data && ev.data.type === "sunshine-chat:close") close();
  });

  const mount = () => document.body.append(host);
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  window.SunshineChat = Object.freeze({ open, close });
})();
