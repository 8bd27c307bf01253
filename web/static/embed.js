/*! Ask the article: embeddable chat launcher.
 * Paste into any page:  <script src="http://HOST:PORT/embed.js" async></script>
 * Options (data- attributes on that script tag):
 *   data-title="Ask the article"   launcher label and panel heading
 *   data-position="right"          "right" (default) or "left"
 *   data-accent="#2563eb"          accent colour (any CSS colour)
 *   data-article="ID"              answer from this article only (an id from GET /api/articles)
 *   data-open="true"               start with the panel open
 * Everything lives in one <ask-article-widget> element with a Shadow DOM: no global variables, no styles
 * added to the page, nothing loaded from anywhere but the assistant's own server.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll('script[src*="embed.js"]');
    script = all[all.length - 1];
  }
  if (!script || !script.src) return;
  var server;
  try { server = new URL(script.src, document.baseURI); } catch (e) { return; }
  var origin = server.origin;

  function opt(name) { var v = script.getAttribute("data-" + name); return v === null ? null : String(v).trim(); }
  function truthy(v) { return v !== null && !/^(false|0|no|off)$/i.test(v); }
  var title = (opt("title") || "Ask the article").slice(0, 80);
  var position = opt("position") === "left" ? "left" : "right";
  var accent = opt("accent") || "";
  if (!(accent && accent.length <= 40 && window.CSS && CSS.supports && CSS.supports("color", accent))) accent = "#2563eb";
  var article = (opt("article") || "").slice(0, 200);
  var startOpen = truthy(opt("open"));

  function mount() {
    // one widget per assistant server per page, even if the snippet is pasted twice
    var existing = document.getElementsByTagName("ask-article-widget");
    for (var i = 0; i < existing.length; i++) if (existing[i].getAttribute("data-server") === origin) return;

    var host = document.createElement("ask-article-widget");
    host.setAttribute("data-server", origin);
    // inline !important beats any host stylesheet rule that could reach this element
    host.style.cssText = "all: initial !important; position: fixed !important; z-index: 2147483000 !important; " +
      "bottom: 0 !important; " + position + ": 0 !important; width: 0 !important; height: 0 !important; " +
      "display: block !important;";
    var root = host.attachShadow({ mode: "open" });

    var style = document.createElement("style");
    style.textContent =
      ":host{all:initial}" +
      "*{box-sizing:border-box}" +
      ".launcher{position:fixed;bottom:20px;" + position + ":20px;display:flex;align-items:center;gap:8px;" +
      "border:0;border-radius:999px;padding:12px 18px;margin:0;background:var(--accent);color:#fff;" +
      "font:600 15px/1.2 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;cursor:pointer;" +
      "box-shadow:0 4px 14px rgba(0,0,0,.25);text-transform:none;letter-spacing:normal;width:auto;height:auto}" +
      ".launcher:focus-visible{outline:3px solid #111;outline-offset:2px}" +
      ".launcher svg{width:20px;height:20px;fill:currentColor;flex:none}" +
      ".panel{position:fixed;bottom:84px;" + position + ":20px;width:380px;height:560px;" +
      "max-width:calc(100vw - 40px);max-height:calc(100vh - 110px);border-radius:12px;overflow:hidden;" +
      "background:#fff;box-shadow:0 10px 40px rgba(0,0,0,.3);border:1px solid rgba(0,0,0,.12);display:flex;" +
      "flex-direction:column}" +
      ".panel[hidden]{display:none}" +
      "iframe{border:0;width:100%;height:100%;flex:1;display:block;background:#fff;color-scheme:light}" +
      ".notice{padding:16px;font:14px/1.45 system-ui,sans-serif;color:#1f2328;background:#fff8e1}" +
      ".notice[hidden]{display:none}" +
      ".notice b{display:block;margin-bottom:6px}";
    root.appendChild(style);
    host.style.setProperty("--accent", accent);

    var panel = document.createElement("div");
    panel.className = "panel";
    panel.hidden = true;
    panel.id = "ask-article-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", title);
    var notice = document.createElement("div");
    notice.className = "notice";
    notice.hidden = true;
    notice.setAttribute("role", "alert");
    panel.appendChild(notice);
    root.appendChild(panel);

    var button = document.createElement("button");
    button.className = "launcher";
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "ask-article-panel");
    var svgNS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(svgNS, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    var label = document.createElement("span");
    label.textContent = title;
    button.appendChild(svg);
    button.appendChild(label);
    root.appendChild(button);

    var frame = null, ready = false, timer = null;

    function showNotice() {
      if (ready) return;
      notice.textContent = "";
      var b = document.createElement("b");
      b.textContent = "This assistant is not available on this page.";
      notice.appendChild(b);
      notice.appendChild(document.createTextNode(
        "The assistant at " + origin + " did not answer, or does not allow pages from " + location.origin +
        " to embed it. Its owner can allow this site with: --allow-origin " + location.origin));
      notice.hidden = false;
      panel.style.height = "auto";
      if (frame) frame.style.display = "none";
      if (window.console) console.warn("[ask-article] the widget from " + origin + " could not load on " +
        location.origin + " (not on its --allow-origin list, or the server is down)");
    }

    function createFrame() {
      var url = new URL("widget", server.href);
      url.search = "";
      url.hash = "";
      url.searchParams.set("title", title);
      url.searchParams.set("accent", accent);
      if (article) url.searchParams.set("article", article);
      frame = document.createElement("iframe");
      frame.title = title;
      frame.setAttribute("referrerpolicy", "origin");
      frame.addEventListener("load", function () {
        // a refused frame (CSP frame-ancestors) still fires load, but never says it is ready
        clearTimeout(timer);
        timer = setTimeout(showNotice, 2500);
      });
      timer = setTimeout(showNotice, 15000);
      frame.src = url.href;
      panel.appendChild(frame);
    }

    window.addEventListener("message", function (ev) {
      if (!frame || ev.source !== frame.contentWindow || ev.origin !== origin) return;
      var d = ev.data;
      if (!d || typeof d !== "object" || d.source !== "ask-article") return;
      if (d.type === "ready") {
        ready = true;
        clearTimeout(timer);
        notice.hidden = true;
        panel.style.height = "";
        frame.style.display = "";
      } else if (d.type === "close") {
        setOpen(false);
        button.focus();
      }
    });

    function setOpen(open) {
      if (open && !frame) createFrame();
      panel.hidden = !open;
      button.setAttribute("aria-expanded", open ? "true" : "false");
      if (open && frame && ready) {
        try { frame.contentWindow.postMessage({ source: "ask-article", type: "focus" }, origin); } catch (e) { /* ignore */ }
      }
    }
    button.addEventListener("click", function () { setOpen(panel.hidden); });
    root.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && !panel.hidden) { setOpen(false); button.focus(); } });

    document.body.appendChild(host);
    if (startOpen) setOpen(true);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
