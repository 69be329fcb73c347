// Incident page, live: listens to /incidents/{id}/events (Server-Sent
// Events) and, on each timeline event, fetches the re-rendered live part of
// the page and swaps it in. Reconnects with exponential backoff and jitter.
//
// Its forms (`form[data-inplace]`: status, paste, note, checklist playbook,
// ticks, verdicts) post with fetch and update the page in place, saying what
// happened next to the form that was used; without script they post and
// the server redirects back, as before.
(function () {
  "use strict";
  var head = document.getElementById("incident");
  var live = document.getElementById("incident-live");
  if (!head || !live) return;
  var id = head.getAttribute("data-incident");
  var state = document.getElementById("inc-live-state");
  var delay = 1000;
  var MAX_DELAY = 30000;
  var source = null;
  var fetching = false;
  var again = false;
  var waiters = [];
  // Event ids already acted on: a replica may deliver one twice (its own
  // bus and the database's notice), and a refresh per event is enough.
  var seen = {};

  function say(text) { if (state) state.textContent = text; }

  function enhance(scope) {
    if (window.faultline) window.faultline.enhance(scope);
  }

  // The status shown, and the buttons offered: every status but the current.
  function showStatus(now) {
    if (!now) return;
    var status = document.getElementById("inc-status");
    if (status && status.textContent !== now) {
      status.textContent = now;
      status.className = "inc-status inc-status-" + now;
    }
    document.querySelectorAll(".inc-statusform button[name=status]").forEach(function (b) {
      b.hidden = b.value === now;
    });
    var duration = document.getElementById("inc-duration");
    if (duration) {
      if (now === "resolved" && !duration.getAttribute("data-until")) {
        duration.setAttribute("data-until", new Date().toISOString());
      } else if (now !== "resolved") {
        duration.removeAttribute("data-until");
      }
      if (window.faultline) window.faultline.tick(head);
    }
  }

  // Where the keyboard was, as something findable in the new markup.
  function focusKey() {
    var el = document.activeElement;
    if (!el || !live.contains(el)) return null;
    var holder = el.closest("[id]");
    var form = el.closest("form");
    return {
      holder: holder && live.contains(holder) ? holder.id : null,
      tag: el.tagName,
      name: el.getAttribute("name"),
      value: el.getAttribute("value"),
      cls: el.className,
      playbook: form && form.querySelector("input[name=playbook]") ? form.querySelector("input[name=playbook]").value : null
    };
  }
  function restoreFocus(key) {
    if (!key || !key.holder) return;
    var holder = document.getElementById(key.holder);
    if (!holder) return;
    var candidates = Array.prototype.slice.call(holder.querySelectorAll(key.tag));
    if (key.playbook) {
      candidates = candidates.filter(function (c) {
        var f = c.closest("form");
        var p = f && f.querySelector("input[name=playbook]");
        return !p || p.value === key.playbook;
      });
    }
    var pick = candidates.filter(function (c) { return c.getAttribute("name") === key.name && c.getAttribute("value") === key.value; })[0]
      || candidates.filter(function (c) { return c.className === key.cls; })[0];
    if (pick) { pick.focus(); return; }
    holder.setAttribute("tabindex", "-1");
    holder.focus();
  }

  // Fetches the live part again; `done` runs once it is in the page.
  function refresh(done) {
    if (done) waiters.push(done);
    if (fetching) { again = true; return; }
    fetching = true;
    var callbacks = waiters;
    waiters = [];
    fetch("/incidents/" + id + "/live", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var open = {};
        live.querySelectorAll("details[open]").forEach(function (d) {
          var s = d.querySelector("summary");
          open[d.id || (s && s.textContent)] = true;
        });
        var key = focusKey();
        var before = document.getElementById("summary");
        var beforeText = before ? before.textContent : "";
        live.innerHTML = html;
        live.querySelectorAll("details").forEach(function (d) {
          var s = d.querySelector("summary");
          if (open[d.id || (s && s.textContent)]) d.open = true;
        });
        enhance(live);
        restoreFocus(key);
        var after = document.getElementById("summary");
        if (after && beforeText && after.textContent !== beforeText) {
          after.classList.add("inc-changed");
          setTimeout(function () { after.classList.remove("inc-changed"); }, 2500);
        }
        var fresh = live.querySelector(".inc-live");
        if (fresh) showStatus(fresh.getAttribute("data-status"));
        say("Live · updated " + new Date().toLocaleTimeString());
      })
      .catch(function (e) { say("Live · could not refresh (" + e.message + ")"); })
      .then(function () {
        fetching = false;
        callbacks.forEach(function (f) { f(); });
        if (again) { again = false; refresh(); }
      });
  }

  // The message after a form: next to it when it stays on the page, else
  // at the top of the part it changed.
  function tell(form, kind, text) {
    var old = document.getElementById("inc-flash");
    if (old) old.parentNode.removeChild(old);
    var p = document.createElement("p");
    p.id = "inc-flash";
    p.className = "inc-flash inc-flash-" + kind;
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    p.textContent = text;
    var box = form.parentNode && document.contains(form)
      ? form.parentNode.querySelector(".inc-result-slot") : null;
    if (box) {
      box.appendChild(p);
    } else if (form.isConnected) {
      form.parentNode.insertBefore(p, form.nextSibling);
    } else {
      var where = document.getElementById(form.getAttribute("data-after") || "summary");
      if (!where) return;
      var body = where.querySelector(".inc-step-body");
      var heading = where.querySelector("h2");
      if (body) body.appendChild(p);
      else if (heading) heading.parentNode.insertBefore(p, heading.nextSibling);
      else where.insertBefore(p, where.firstChild);
    }
    if (kind !== "error") {
      setTimeout(function () { if (p.parentNode && kind === "ok") p.classList.add("inc-flash-fading"); }, 6000);
    }
  }

  // The JSON the server answers, or, from an error page (a refusal made
  // before the handler, such as a CSRF or size check), its message.
  function readAnswer(text) {
    try { return JSON.parse(text); } catch (e) { /* a page */ }
    try {
      var doc = new DOMParser().parseFromString(text, "text/html");
      var p = doc.querySelector(".error-page h1 + p");
      if (p) return { error: { message: p.textContent } };
    } catch (e) { /* not HTML either */ }
    var line = (text || "").split("\n")[0].slice(0, 200);
    return line ? { error: { message: line } } : {};
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-inplace") || !window.fetch) return;
    e.preventDefault();
    var submitter = e.submitter;
    var data = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { data.append(k, v); });
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    var busy = form.querySelectorAll("button");
    busy.forEach(function (b) { b.disabled = true; });
    // Where the answer goes once the live part is redrawn (a verdict or a
    // tick form is replaced by the redraw).
    var holder = form.closest("[id]");
    var after = holder ? holder.id : "summary";
    form.setAttribute("data-after", after);
    // (`form.action` would be the hidden input named "action".)
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    })
      .then(function (r) {
        return r.text().then(function (text) { return { ok: r.ok, status: r.status, body: readAnswer(text) }; });
      })
      .then(function (res) {
        busy.forEach(function (b) { b.disabled = false; });
        if (!res.ok) {
          var msg = res.body.error && res.body.error.message
            ? res.body.error.message : "The server answered " + res.status + ".";
          tell(form, "error", msg);
          return;
        }
        if (data.get("action") === "paste" || data.get("action") === "note") {
          var area = form.querySelector("textarea");
          if (area) area.value = "";
        }
        var kind = res.body.kind || "ok";
        var text = res.body.message || "Done.";
        // Said once the page shows the change (the redrawn diagnosis, the
        // ticked step, the new status), next to the form, or where the
        // form was when the redraw replaced it.
        var inLive = live.contains(form);
        refresh(function () {
          if (!inLive) { tell(form, kind, text); return; }
          var stub = document.createElement("form");
          stub.setAttribute("data-after", after);
          tell(stub, kind, text);
        });
      })
      .catch(function (err) {
        busy.forEach(function (b) { b.disabled = false; });
        tell(form, "error", "Could not reach the server (" + err.message + "). Nothing was saved; try again.");
      });
  });

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
    source.addEventListener("reload", function () { refresh(); });
    source.onerror = function () {
      source.close();
      var wait = delay / 2 + Math.random() * delay / 2;
      say("Live · reconnecting in " + Math.round(wait / 1000) + " s");
      setTimeout(connect, wait);
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  }

  if (window.EventSource) {
    window.addEventListener("pagehide", function () { if (source) source.close(); });
    connect();
  }
})();
