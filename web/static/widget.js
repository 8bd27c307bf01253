/* The compact chat framed by embed.js: asks /api/ask (same origin) and shows each answer with its citations.
 * All article and user text goes through textContent, never innerHTML, and the page's CSP forbids any script
 * but this file, so markup inside an article is shown as the text it is. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var title = (params.get("title") || "Ask the article").slice(0, 80);
  var article = (params.get("article") || "").slice(0, 200);
  var accent = params.get("accent") || "";
  if (accent && accent.length <= 40 && CSS.supports("color", accent)) {
    document.documentElement.style.setProperty("--accent", accent);
  }
  var framed = window.parent !== window;
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var box = document.getElementById("question");
  var send = document.getElementById("send");
  var closeBtn = document.getElementById("close");
  var intro = document.getElementById("intro");
  var history = [];
  var busy = false;

  document.title = title;
  document.getElementById("title").textContent = title;
  if (framed) closeBtn.hidden = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function post(type) {
    if (framed) window.parent.postMessage({ source: "ask-article", type: type }, "*");
  }

  // which article(s) the answers come from, for the introduction line
  fetch("api/articles", { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : []; })
    .then(function (list) {
      if (!Array.isArray(list) || !list.length) return;
      var names = list.filter(function (a) { return !article || a.id === article; })
        .map(function (a) { return "“" + a.title + "”"; });
      if (article && !names.length) {
        intro.textContent = "This widget is set to an article (" + article + ") the assistant does not have.";
        intro.classList.add("msg", "error");
        return;
      }
      intro.textContent = "Answers quote " + (names.length === 1 ? names[0] : names.length + " articles") +
        ", with numbered citations.";
    })
    .catch(function () { /* the intro stays generic */ });

  function showAnswer(data) {
    var m = el("div", "msg assistant" + (data.abstained ? " abstained" : ""));
    var cites = Array.isArray(data.citations) ? data.citations : [];
    // the answer text is the quoted sentences with [n] markers: the citation cards below already show each quote
    // with its number and source, so the text itself is shown only when there is nothing to cite
    if (!cites.length) m.appendChild(el("p", "text", data.answer));
    if (cites.length) {
      var ol = el("ol", "cites");
      ol.setAttribute("aria-label", "Citations");
      cites.forEach(function (c) {
        var li = el("li", "cite");
        var q = el("blockquote");
        q.appendChild(el("span", "num", "[" + c.n + "]"));
        q.appendChild(document.createTextNode(c.text));
        li.appendChild(q);
        var a = c.article || {};
        var src = (a.title || "") + (a.date ? " · " + a.date : "") + " · paragraph " + (Number(c.paragraph) + 1);
        li.appendChild(el("div", "src", src));
        ol.appendChild(li);
      });
      m.appendChild(ol);
    }
    log.appendChild(m);
  }

  function ask(question) {
    busy = true;
    send.disabled = true;
    log.appendChild(el("div", "msg user", question));
    var pending = el("div", "msg assistant pending", "Looking in the article…");
    log.appendChild(pending);
    scroll();
    var body = { question: question, history: history.slice(-10) };
    if (article) body.article = article;
    fetch("api/ask", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
                       body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return { error: "The assistant sent an unreadable reply (HTTP " + r.status + ")." }; })
          .then(function (data) { return { ok: r.ok, data: data || {} }; });
      })
      .then(function (res) {
        pending.remove();
        if (!res.ok || typeof res.data.answer !== "string") {
          log.appendChild(el("div", "msg error", res.data.error || "The assistant could not answer."));
          return;
        }
        showAnswer(res.data);
        history.push({ role: "user", content: question }, { role: "assistant", content: res.data.answer });
      })
      .catch(function () {
        pending.remove();
        log.appendChild(el("div", "msg error", "The assistant could not be reached. Try again in a moment."));
      })
      .then(function () {
        busy = false;
        send.disabled = false;
        scroll();
        box.focus();
      });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = box.value.trim();
    if (!q || busy) return;
    box.value = "";
    ask(q);
  });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    } else if (ev.key === "Escape") {
      post("close");
    }
  });
  closeBtn.addEventListener("click", function () { post("close"); });
  window.addEventListener("message", function (ev) {
    if (ev.source === window.parent && ev.data && ev.data.source === "ask-article" && ev.data.type === "focus") box.focus();
  });
  post("ready");
})();
