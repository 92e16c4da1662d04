// Small progressive enhancements for the waiting room. The pages work without this file.
(function () {
  "use strict";

  // Keep polling through network errors: show that we are reconnecting, then retry the poll.
  function onPollFailure(event) {
    var poller = event.detail && event.detail.elt;
    if (!poller || !poller.classList || !poller.classList.contains("poller")) return;
    var region = document.getElementById("queue-status");
    if (region && !region.classList.contains("status--offline")) {
      region.classList.add("status--offline");
      var note = document.createElement("p");
      note.className = "visually-hidden offline-note";
      note.textContent = "Reconnecting… your place is safe, this page keeps trying.";
      region.appendChild(note);  // inside the live region, so assistive technology announces it
    }
    if (window.htmx) window.htmx.trigger(poller, "sq:retry");
  }
  document.addEventListener("htmx:sendError", onPollFailure);
  document.addEventListener("htmx:responseError", onPollFailure);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "queue-status") event.target.classList.remove("status--offline");
    localise(event.target);
  });

  // Show "last updated" in the visitor's own time zone.
  function localise(root) {
    (root || document).querySelectorAll("time[data-local-time]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) el.textContent = when.toLocaleTimeString();
    });
  }

  // Count the checkout hold down; reload when it ends so the server decides what comes next.
  function countdown() {
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var end = Date.now() + Number(el.getAttribute("data-countdown")) * 1000;
      function tick() {
        var left = Math.max(0, Math.round((end - Date.now()) / 1000));
        var m = Math.floor(left / 60), s = left % 60;
        el.textContent = m + ":" + (s < 10 ? "0" : "") + s;
        if (left === 0) { window.location.reload(); return; }
        setTimeout(tick, 1000);
      }
      tick();
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localise(document); countdown(); });

  // The pre-queue's live countdown to the opening; the polled fragment brings the drawn place itself.
  setInterval(function () {
    document.querySelectorAll("[data-opens-at]").forEach(function (el) {
      var opens = Date.parse(el.getAttribute("data-opens-at"));
      if (isNaN(opens)) return;
      var left = Math.max(0, Math.ceil((opens - Date.now()) / 1000));
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (s < 10 ? "0" : "") + s;
    });
  }, 250);
})();
