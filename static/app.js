// Faultline page behaviour: theme switch and copy buttons on code blocks.
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

  // A block that scrolls sideways (a long command, a wide table) takes
  // keyboard focus, so it can be scrolled without a mouse.
  function focusScrollers() {
    document.querySelectorAll("pre, .prose table, .admin-table").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) el.setAttribute("tabindex", "0");
      else if (el.getAttribute("tabindex") === "0") el.removeAttribute("tabindex");
    });
  }
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(focusScrollers, 150);
  });
  window.faultlineFocusScrollers = focusScrollers;

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector(".theme-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var next = currentTheme() === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("faultline-theme", next); } catch (e) { /* ignore */ }
      });
    }
    document.querySelectorAll("pre > code").forEach(function (code) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy command");
      button.addEventListener("click", function () {
        var text = code.textContent.replace(/\n$/, "");
        var done = function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Select and copy"; });
        } else {
          button.textContent = "Select and copy";
        }
      });
      // The button sits on a wrapper, not in the block, so it stays put
      // while a long line scrolls sideways inside the block.
      var pre = code.parentNode;
      var wrap = document.createElement("div");
      wrap.className = "code-wrap";
      pre.parentNode.insertBefore(wrap, pre);
      wrap.appendChild(pre);
      wrap.appendChild(button);
      pre.classList.add("has-copy");
    });
    focusScrollers();
  });
})();
