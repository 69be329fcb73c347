// Incident page, live: listens to /incidents/{id}/events (Server-Sent
// Events) and, on each timeline event, fetches the re-rendered live part of
// the page and swaps it in. Reconnects with exponential backoff and jitter.
(function () {
  "use strict";
  var head = document.getElementById("incident");
  var live = document.getElementById("incident-live");
  if (!head || !live || !window.EventSource) return;
  var id = head.getAttribute("data-incident");
  var state = document.getElementById("inc-live-state");
  var delay = 1000;
  var MAX_DELAY = 30000;
  var source = null;
  var fetching = false;
  var again = false;
  // Event ids already acted on: a replica may deliver one twice (its own
  // bus and the database's notice), and a refresh per event is enough.
  var seen = {};

  function say(text) { if (state) state.textContent = text; }

  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch("/incidents/" + id + "/live", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var open = {};
        live.querySelectorAll("details[open] summary").forEach(function (s) { open[s.textContent] = true; });
        live.innerHTML = html;
        live.querySelectorAll("details summary").forEach(function (s) {
          if (open[s.textContent]) s.parentNode.open = true;
        });
        var fresh = live.querySelector(".inc-live");
        if (fresh) {
          var status = document.getElementById("inc-status");
          var now = fresh.getAttribute("data-status");
          if (status && now && status.textContent !== now) {
            status.textContent = now;
            status.className = "inc-status inc-status-" + now;
          }
        }
        say("Live · updated " + new Date().toLocaleTimeString());
      })
      .catch(function (e) { say("Live · could not refresh (" + e.message + ")"); })
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  function connect() {
    source = new EventSource("/incidents/" + id + "/events");
    source.onopen = function () {
      if (delay > 1000) refresh(); // caught up on what was missed while away
      delay = 1000;
      say("Live");
    };
    source.addEventListener("timeline", function (e) {
      if (e.lastEventId) {
        if (seen[e.lastEventId]) return;
        seen[e.lastEventId] = true;
      }
      refresh();
    });
    source.addEventListener("reload", refresh);
    source.onerror = function () {
      source.close();
      var wait = delay / 2 + Math.random() * delay / 2;
      say("Live · reconnecting in " + Math.round(wait / 1000) + " s");
      setTimeout(connect, wait);
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  }

  window.addEventListener("pagehide", function () { if (source) source.close(); });
  connect();
})();
