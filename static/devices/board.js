// The alarm board: open the handling form in a modal, close it once saved, and flash the tab's
// title when a new fire alarm arrives (the rows themselves flash by CSS). No sound.
(function () {
  var modalEl = document.getElementById("rw-handle-modal");
  var baseTitle = document.title;
  var titleTimer = null;

  function modal() {
    return modalEl && window.bootstrap ? bootstrap.Modal.getOrCreateInstance(modalEl) : null;
  }

  function flashTitle(text) {
    if (titleTimer) clearInterval(titleTimer);
    var ticks = 0;
    titleTimer = setInterval(function () {
      ticks += 1;
      document.title = ticks % 2 ? "🔥 " + text + " · " + baseTitle : baseTitle;
      if (ticks >= 12) {
        clearInterval(titleTimer);
        titleTimer = null;
        document.title = baseTitle;
      }
    }, 700);
  }

  document.body.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "rw-handle-body") {
      var m = modal();
      if (m) m.show();
      var done = target.querySelector("#rw-handle-done");
      if (done && m) setTimeout(function () { m.hide(); }, parseInt(done.dataset.closeAfter, 10) || 1200);
    }
  });

  document.body.addEventListener("htmx:afterSettle", function () {
    var live = document.getElementById("rw-board-live");
    if (live && live.dataset.newFire && !live.dataset.flashed) {
      live.dataset.flashed = "1";
      flashTitle(live.dataset.newFire);
    }
  });

  // A board that silently stops updating is dangerous: say so, once, until a poll succeeds.
  function pollFailed(event) {
    if (!event.target || event.target.id !== "rw-board-live") return;
    event.stopPropagation(); // not one more alert every two seconds (js/app.js)
    var stale = document.getElementById("rw-board-stale");
    if (stale) stale.classList.remove("d-none");
  }
  document.addEventListener("htmx:responseError", pollFailed, true);
  document.addEventListener("htmx:sendError", pollFailed, true);
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "rw-board-live") {
      var xhr = event.detail.xhr;
      if (xhr && xhr.responseURL && xhr.responseURL.indexOf("/accounts/login/") !== -1) {
        event.detail.shouldSwap = false; // signed out: show the sign-in page, not inside the table
        window.location.reload();
        return;
      }
      var stale = document.getElementById("rw-board-stale");
      if (stale) stale.classList.add("d-none");
    }
  });

  // An emptied modal never shows a stale form when the next one is loading.
  if (modalEl) {
    modalEl.addEventListener("hidden.bs.modal", function () {
      document.getElementById("rw-handle-body").innerHTML = "";
    });
  }
})();
