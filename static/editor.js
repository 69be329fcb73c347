// The playbook editor: live preview, line gutter with errors, test bench.
// The postmortem editor uses it too: its form names its own preview call in
// `data-preview`. The server renders and validates (POST
// /api/v1/playbooks/preview by default); this
// script only sends the text and places the answer. Without it the form
// still works: its buttons post the text and the page comes back checked.
(function () {
  "use strict";
  var DEBOUNCE_MS = 300;

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { return { status: r.status, data: data }; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector(".editor-form");
    var source = document.getElementById("source");
    if (!form || !source) return;
    var gutter = document.querySelector(".editor-gutter");
    var errors = document.getElementById("editor-errors");
    var preview = document.getElementById("preview");
    var state = document.getElementById("preview-state");
    var dirty = false;
    var timer = null;
    var sent = 0;
    var errorLines = {};

    document.querySelectorAll(".js-hide").forEach(function (el) { el.hidden = true; });
    document.querySelectorAll(".editor-error").forEach(function (li) {
      errorLines[li.getAttribute("data-line")] = true;
    });

    function drawGutter() {
      var n = source.value.split("\n").length;
      var out = [];
      for (var i = 1; i <= n; i++) {
        out.push(errorLines[i] ? "<b class=\"gutter-error\" title=\"error on this line\">" + i + "</b>" : String(i));
      }
      gutter.innerHTML = out.join("\n") + "\n";
      gutter.scrollTop = source.scrollTop;
    }

    function goToLine(line) {
      var lines = source.value.split("\n");
      var start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      var end = start + (lines[line - 1] || "").length;
      source.focus();
      source.setSelectionRange(start, end);
      var height = source.scrollHeight / Math.max(lines.length, 1);
      source.scrollTop = Math.max(0, (line - 5) * height);
      drawGutter();
    }

    function showErrors(list) {
      errorLines = {};
      errors.textContent = "";
      list.forEach(function (e) {
        errorLines[e.line] = true;
        var li = document.createElement("li");
        li.className = "editor-error";
        li.setAttribute("data-line", e.line);
        var a = document.createElement("a");
        a.href = "#source";
        a.className = "error-line";
        a.setAttribute("data-line", e.line);
        a.textContent = "Line " + e.line;
        li.appendChild(a);
        li.appendChild(document.createTextNode(": " + e.message));
        var excerpt = source.value.split("\n")[e.line - 1];
        if (excerpt) {
          var pre = document.createElement("pre");
          pre.className = "error-excerpt";
          var no = document.createElement("span");
          no.className = "error-excerpt-no";
          no.textContent = e.line;
          pre.appendChild(no);
          pre.appendChild(document.createTextNode(" " + excerpt));
          li.appendChild(pre);
        }
        errors.appendChild(li);
      });
      drawGutter();
    }

    function refresh() {
      var mine = ++sent;
      state.textContent = "checking…";
      postJson(form.getAttribute("data-preview") || "/api/v1/playbooks/preview", { source: source.value }).then(function (r) {
        if (mine !== sent) return; // a newer request is on its way
        if (r.status !== 200) {
          state.textContent = (r.data && r.data.error && r.data.error.message) || "preview failed";
          return;
        }
        showErrors(r.data.errors || []);
        if (r.data.valid) {
          preview.innerHTML = r.data.html; // rendered and sanitised by the server
          preview.classList.remove("stale");
          state.textContent = "up to date";
        } else {
          preview.classList.add("stale");
          state.textContent = "showing the last valid text: fix the error";
        }
      }, function () {
        if (mine === sent) state.textContent = "server unreachable; the preview is not current";
      });
    }

    source.addEventListener("input", function () {
      dirty = true;
      drawGutter();
      clearTimeout(timer);
      timer = setTimeout(refresh, DEBOUNCE_MS);
    });
    source.addEventListener("scroll", function () { gutter.scrollTop = source.scrollTop; });
    errors.addEventListener("click", function (ev) {
      var a = ev.target.closest ? ev.target.closest(".error-line") : null;
      if (!a) return;
      ev.preventDefault();
      goToLine(parseInt(a.getAttribute("data-line"), 10));
    });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (ev) {
      if (dirty) { ev.preventDefault(); ev.returnValue = ""; }
    });

    var run = document.getElementById("bench-run");
    var out = document.getElementById("bench-out");
    var picked = document.getElementById("bench-report");
    if (run && out) {
      run.addEventListener("click", function (ev) {
        ev.preventDefault();
        out.textContent = "running…";
        var reports = picked && picked.value ? [picked.value] : [];
        postJson("/api/v1/playbooks/testbench", { source: source.value, reports: reports }).then(function (r) {
          if (r.status === 200) {
            out.innerHTML = r.data.html; // rendered and escaped by the server
          } else {
            var e = r.data && r.data.error;
            out.textContent = e ? e.message : "the test bench failed";
            refresh();
          }
        }, function () { out.textContent = "server unreachable"; });
      });
    }

    drawGutter();
  });
})();
