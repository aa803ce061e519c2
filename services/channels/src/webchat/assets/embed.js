// Konstruct web chat embed: <script src="https://<gateway>/webchat/<connectionId>/embed.js" async></script>
// Adds a "Chat with …" button that opens the chat page in a panel (an iframe served by the
// gateway). Only sites in the channel's allowedOrigins get the button: the config request is
// CORS-gated, and the page itself refuses to be framed elsewhere (CSP frame-ancestors).
(() => {
  const script = document.currentScript;
  if (!script?.src) return;
  const base = new URL("./", script.src);
  const marker = "data-konstruct-webchat";
  if (document.querySelector(`[${marker}="${CSS.escape(base.href)}"]`)) return;

  fetch(new URL("config", base), { mode: "cors", credentials: "omit" })
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .then(mount)
    .catch(() => {
      console.warn(
        `Konstruct web chat: not shown. ${location.origin} must be listed in the channel's allowedOrigins, and the chat must be reachable at ${base.href}.`,
      );
    });

  const CSS_TEXT = `
    :host { all: initial; }
    .launcher {
      position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      font: 600 15px/1 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      background: #3b4cca; color: #fff; border: 0; border-radius: 999px; padding: 14px 20px;
      box-shadow: 0 6px 24px rgba(0,0,0,.2); cursor: pointer;
    }
    .launcher:focus-visible { outline: 3px solid #8f9bff; outline-offset: 3px; }
    .panel {
      position: fixed; right: 20px; bottom: 80px; z-index: 2147483000;
      width: min(400px, calc(100vw - 40px)); height: min(620px, calc(100vh - 110px));
      border-radius: 16px; overflow: hidden; background: #fff; box-shadow: 0 12px 40px rgba(0,0,0,.25);
    }
    .panel[hidden] { display: none; }
    iframe { width: 100%; height: 100%; border: 0; display: block; }
  `;

  function mount(config) {
    const name = config?.agent?.displayName || "us";
    const host = document.createElement("div");
    host.setAttribute(marker, base.href);
    const root = host.attachShadow({ mode: "open" });
    // A constructed stylesheet: no <style> element, so a strict CSP on the host page still applies it.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS_TEXT);
    root.adoptedStyleSheets = [sheet];

    const panelId = "konstruct-webchat-panel";
    const launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "launcher";
    launcher.textContent = `Chat with ${name}`;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", panelId);

    const panel = document.createElement("div");
    panel.id = panelId;
    panel.className = "panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", `Chat with ${name}`);
    let frame = null;

    const open = () => {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.title = `Chat with ${name}`;
        frame.src = new URL("?embed=1", base).href;
        panel.append(frame);
      }
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      frame.focus();
    };
    const close = () => {
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
    };
    launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !panel.hidden) close();
    });
    window.addEventListener("message", (event) => {
      if (event.origin === base.origin && event.source === frame?.contentWindow && event.data?.type === "konstruct-webchat:close")
        close();
    });

    root.append(panel, launcher);
    document.body.append(host);
  }
})();
