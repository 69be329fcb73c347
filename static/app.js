// Faultline page behaviour: theme switch, copy buttons on commands, "… ago"
// times that stay current, and the `/` shortcut to search.
// No framework, no inline script (the CSP forbids it).
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("faultline-theme"); } catch (e) { /* private mode */ }
  if (saved === "dark" || saved === "light") root.setAttribute("data-theme", saved);

  function currentTheme() {
    var set = root.getAttribute("data-theme");
    if (set) return set;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  // A copy button for `text`; says what happened in its own label.
  function copyButton(text, label) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text()).then(done, function () { button.textContent = "Select and copy"; });
      } else {
        button.textContent = "Select and copy";
      }
    });
    return button;
  }

  // A block that scrolls sideways (a long command, a wide table) takes
  // keyboard focus, so it can be scrolled without a mouse.
  function focusScrollers(scope) {
    (scope || document).querySelectorAll("pre, .prose table, .admin-table").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) el.setAttribute("tabindex", "0");
      else if (el.getAttribute("tabindex") === "0") el.removeAttribute("tabindex");
    });
  }

  // Copy buttons on code blocks and on commands in text (`code.cmd`), in
  // `scope` (a part of the page that was just replaced, or the page).
  function enhance(scope) {
    scope = scope || document;
    scope.querySelectorAll("pre > code").forEach(function (code) {
      var pre = code.parentNode;
      if (pre.classList.contains("has-copy")) return;
      // The button sits on a wrapper, not in the block, so it stays put
      // while a long line scrolls sideways inside the block.
      var wrap = document.createElement("div");
      wrap.className = "code-wrap";
      pre.parentNode.insertBefore(wrap, pre);
      wrap.appendChild(pre);
      wrap.appendChild(copyButton(function () { return code.textContent.replace(/\n$/, ""); }, "Copy command"));
      pre.classList.add("has-copy");
    });
    scope.querySelectorAll("code.cmd").forEach(function (code) {
      if (code.nextElementSibling && code.nextElementSibling.classList.contains("copy-inline")) return;
      var button = copyButton(function () { return code.textContent; }, "Copy: " + code.textContent);
      button.classList.add("copy-inline");
      code.parentNode.insertBefore(button, code.nextSibling);
    });
    focusScrollers(scope);
    tick(scope);
  }

  // "… ago" as the server writes it (pages/collectors.rs `ago`), kept
  // current from each `<time class="ago" datetime>`; and an incident's
  // "open for …" from its `data-since`.
  function ago(seconds) {
    var s = Math.round(seconds);
    if (s < 0) return "in the future (clock skew)";
    if (s < 10) return "just now";
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.floor(s / 60) + " min ago";
    if (s < 172800) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " days ago";
  }
  function span(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var pair = function (a, ua, b, ub) { return b === 0 ? a + " " + ua : a + " " + ua + " " + b + " " + ub; };
    if (s < 60) return s + " s";
    if (d > 0) return pair(d, d === 1 ? "day" : "days", h, "h");
    if (h > 0) return pair(h, "h", m, "min");
    return pair(m, "min", r, "s");
  }
  function tick(scope) {
    var now = Date.now();
    (scope || document).querySelectorAll("time.ago[datetime]").forEach(function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(at)) t.textContent = ago((now - at) / 1000);
    });
    (scope || document).querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (isNaN(since)) return;
      var until = el.getAttribute("data-until");
      if (until) {
        var end = Date.parse(until);
        if (!isNaN(end)) el.textContent = "resolved after " + span((end - since) / 1000);
      } else {
        el.textContent = "open for " + span((now - since) / 1000);
      }
    });
  }

  window.faultline = { enhance: enhance, tick: tick };

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { focusScrollers(); }, 150);
  });

  // `/` puts the cursor in the search box, unless one is typing already.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
    var box = document.querySelector(".bigsearch input[name=q]") || document.querySelector(".topsearch input[name=q]");
    if (!box) return;
    e.preventDefault();
    box.focus();
    box.select();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector(".theme-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var next = currentTheme() === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("faultline-theme", next); } catch (e) { /* ignore */ }
      });
    }
    enhance(document);
    setInterval(function () { tick(document); }, 15000);
  });
})();
