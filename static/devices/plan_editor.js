// Floor-plan editor: place a floor's points on its plan image.
// Positions are fractions (0–1) of the image's width and height, so they hold at any zoom.
// Pointer events drive every drag, so mouse, pen and touch behave alike. Read-only users see
// the markers (and a highlighted one, ?highlight=<id>) but cannot move them.
(function () {
  "use strict";

  var root = document.getElementById("rw-plan-editor");
  if (!root) return;

  var editable = root.dataset.editable === "1";
  var saveUrl = root.dataset.saveUrl;
  var highlightId = parseInt(root.dataset.highlight || "", 10);
  var points = JSON.parse(document.getElementById("rw-plan-points").textContent);
  var text = JSON.parse(document.getElementById("rw-plan-text").textContent);
  var csrfInput = root.querySelector("input[name=csrfmiddlewaretoken]");
  var scroller = document.getElementById("rw-plan-scroll");
  var plan = document.getElementById("rw-plan");
  var image = document.getElementById("rw-plan-image");
  var layer = document.getElementById("rw-plan-markers");
  var list = document.getElementById("rw-plan-list");
  var search = document.getElementById("rw-plan-search");
  var statusBox = document.getElementById("rw-plan-status");
  var saveButton = document.getElementById("rw-plan-save");

  var byId = {};
  var markers = {};
  var items = {};
  var changes = {}; // point id → [x, y] | null, sent on save
  var zoom = 1;
  var selected = null;
  var DRAG_THRESHOLD = 4; // pixels before a press on a marker becomes a drag

  points.forEach(function (p) { byId[p.id] = p; });

  function isPlaced(p) {
    return p.x !== null && p.y !== null;
  }

  function round(value) {
    return Math.round(value * 100000) / 100000;
  }

  function clamp(value) {
    return Math.min(1, Math.max(0, value));
  }

  function tooltip(p) {
    return [p.code, p.type, p.location].filter(Boolean).join(" · ");
  }

  function showStatus(message, kind) {
    statusBox.textContent = message;
    statusBox.className = "small mb-2 " + (kind === "error" ? "alert alert-danger py-1 px-2" :
      kind === "success" ? "alert alert-success py-1 px-2" : "text-body-secondary");
  }

  function dirtyCount() {
    return Object.keys(changes).length;
  }

  function refreshSave() {
    if (!saveButton) return;
    var n = dirtyCount();
    saveButton.disabled = n === 0;
    if (n) showStatus(text.unsaved.replace("%(count)s", n), "info");
  }

  // The plan's position (fractions) under a pointer, or null when the pointer is outside it.
  function fractionAt(clientX, clientY, clampInside) {
    var rect = image.getBoundingClientRect();
    if (!rect.width || !rect.height) return null;
    var x = (clientX - rect.left) / rect.width;
    var y = (clientY - rect.top) / rect.height;
    if (clampInside) return [clamp(x), clamp(y)];
    if (x < 0 || x > 1 || y < 0 || y > 1) return null;
    return [x, y];
  }

  // --- markers ------------------------------------------------------------------------------

  function placeMarker(marker, x, y) {
    marker.style.left = (x * 100) + "%";
    marker.style.top = (y * 100) + "%";
  }

  function renderMarker(p) {
    var marker = markers[p.id];
    if (!isPlaced(p)) {
      if (marker) marker.remove();
      delete markers[p.id];
      return;
    }
    if (!marker) {
      marker = document.createElement("button");
      marker.type = "button";
      marker.className = "rw-marker";
      marker.dataset.pointId = p.id;
      marker.textContent = p.code;
      marker.title = tooltip(p);
      marker.setAttribute("aria-label", tooltip(p));
      if (p.id === highlightId) marker.classList.add("rw-marker-highlight");
      if (editable) {
        marker.classList.add("rw-marker-editable");
        bindMarkerDrag(marker, p);
      } else {
        marker.addEventListener("click", function () { select(p.id); });
      }
      layer.appendChild(marker);
      markers[p.id] = marker;
    }
    placeMarker(marker, p.x, p.y);
  }

  function bindMarkerDrag(marker, p) {
    var drag = null;
    marker.addEventListener("pointerdown", function (event) {
      if (event.button > 0) return;
      event.preventDefault();
      marker.setPointerCapture(event.pointerId);
      drag = { startX: event.clientX, startY: event.clientY, moved: false, at: null };
      marker.classList.add("rw-marker-dragging");
    });
    marker.addEventListener("pointermove", function (event) {
      if (!drag) return;
      if (!drag.moved && Math.hypot(event.clientX - drag.startX, event.clientY - drag.startY) <
          DRAG_THRESHOLD) return;
      drag.moved = true;
      drag.at = fractionAt(event.clientX, event.clientY, true);
      if (drag.at) placeMarker(marker, drag.at[0], drag.at[1]);
    });
    function finish(event, cancelled) {
      if (!drag) return;
      var done = drag;
      drag = null;
      marker.classList.remove("rw-marker-dragging");
      if (marker.hasPointerCapture(event.pointerId)) marker.releasePointerCapture(event.pointerId);
      if (cancelled || !done.moved || !done.at) {
        placeMarker(marker, p.x, p.y);
        if (!cancelled && !done.moved) select(p.id);
        return;
      }
      setPosition(p.id, done.at);
      select(p.id);
    }
    marker.addEventListener("pointerup", function (event) { finish(event, false); });
    marker.addEventListener("pointercancel", function (event) { finish(event, true); });
    marker.addEventListener("keydown", function (event) {
      var step = event.shiftKey ? 0.02 : 0.005;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step],
        ArrowDown: [0, step] };
      if (event.key === "Delete" || event.key === "Backspace") {
        event.preventDefault();
        setPosition(p.id, null);
      } else if (moves[event.key]) {
        event.preventDefault();
        setPosition(p.id, [clamp(p.x + moves[event.key][0]), clamp(p.y + moves[event.key][1])]);
        markers[p.id].focus();
      }
    });
  }

  // --- the side list ------------------------------------------------------------------------

  function renderItem(p) {
    var item = items[p.id];
    if (!item) {
      item = document.createElement("li");
      item.className = "list-group-item d-flex align-items-center gap-2 rw-plan-item";
      item.dataset.pointId = p.id;
      item.dataset.search = [p.code, p.type, p.location, p.system, p.collector].join(" ")
        .toLowerCase();
      if (editable) {
        var handle = document.createElement("span");
        handle.className = "rw-plan-handle";
        handle.title = text.drag;
        handle.setAttribute("aria-hidden", "true");
        handle.innerHTML = '<i class="bi bi-grip-vertical"></i>';
        bindListDrag(handle, p);
        item.appendChild(handle);
      }
      var label = document.createElement("button");
      label.type = "button";
      label.className = "btn btn-link btn-sm p-0 text-start text-body text-decoration-none flex-grow-1";
      label.innerHTML = '<span class="fw-semibold"></span> <span class="text-body-secondary"></span>' +
        '<div class="text-body-secondary rw-plan-item-location"></div>';
      label.children[0].textContent = p.code;
      label.children[1].textContent = p.type;
      label.children[2].textContent = p.location || (p.on_floor ? "" : text.noFloor);
      label.title = tooltip(p);
      label.addEventListener("click", function () { select(p.id); });
      item.appendChild(label);
      var state = document.createElement("span");
      state.className = "rw-plan-state";
      item.appendChild(state);
      if (editable) {
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn btn-sm btn-outline-danger py-0 px-1 rw-plan-remove";
        remove.title = text.remove;
        remove.setAttribute("aria-label", text.remove + " " + p.code);
        remove.innerHTML = '<i class="bi bi-x-lg"></i>';
        remove.addEventListener("click", function () { setPosition(p.id, null); });
        item.appendChild(remove);
      }
      if (p.id === highlightId) item.classList.add("rw-plan-item-highlight");
      list.appendChild(item);
      items[p.id] = item;
    }
    var placed = isPlaced(p);
    item.classList.toggle("rw-plan-item-placed", placed);
    var badge = item.querySelector(".rw-plan-state");
    badge.className = "rw-plan-state badge " + (placed ? "text-bg-success" : "text-bg-light border");
    badge.textContent = placed ? text.placed : text.notPlaced;
    var removeButton = item.querySelector(".rw-plan-remove");
    if (removeButton) removeButton.hidden = !placed;
  }

  function bindListDrag(handle, p) {
    var ghost = null;
    function moveGhost(event) {
      ghost.style.left = event.clientX + "px";
      ghost.style.top = event.clientY + "px";
      plan.classList.toggle("rw-plan-drop", fractionAt(event.clientX, event.clientY) !== null);
    }
    handle.addEventListener("pointerdown", function (event) {
      if (event.button > 0) return;
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      ghost = document.createElement("div");
      ghost.className = "rw-marker rw-marker-ghost";
      ghost.textContent = p.code;
      document.body.appendChild(ghost);
      moveGhost(event);
    });
    handle.addEventListener("pointermove", function (event) {
      if (ghost) moveGhost(event);
    });
    function finish(event, cancelled) {
      if (!ghost) return;
      ghost.remove();
      ghost = null;
      plan.classList.remove("rw-plan-drop");
      if (handle.hasPointerCapture(event.pointerId)) handle.releasePointerCapture(event.pointerId);
      var at = cancelled ? null : fractionAt(event.clientX, event.clientY);
      if (at) {
        setPosition(p.id, at);
        select(p.id);
      }
    }
    handle.addEventListener("pointerup", function (event) { finish(event, false); });
    handle.addEventListener("pointercancel", function (event) { finish(event, true); });
  }

  // --- state --------------------------------------------------------------------------------

  function setPosition(id, at) {
    var p = byId[id];
    if (at) {
      p.x = round(at[0]);
      p.y = round(at[1]);
      p.on_floor = true;
      changes[id] = [p.x, p.y];
    } else {
      if (!isPlaced(p)) return;
      p.x = p.y = null;
      changes[id] = null;
      if (selected === id) selected = null;
    }
    renderMarker(p);
    renderItem(p);
    refreshSave();
    countPlaced();
  }

  function countPlaced() {
    var counter = document.getElementById("rw-plan-placed");
    if (counter) counter.textContent = points.filter(isPlaced).length;
  }

  function select(id) {
    var p = byId[id];
    if (selected !== null) {
      if (markers[selected]) markers[selected].classList.remove("rw-marker-selected");
      if (items[selected]) items[selected].classList.remove("active");
    }
    selected = id;
    if (items[id]) items[id].classList.add("active");
    var marker = markers[id];
    if (marker) {
      marker.classList.add("rw-marker-selected");
      reveal(marker);
    }
    if (!dirtyCount() || !editable) {
      showStatus(tooltip(p) + (p.system ? " · " + p.system : "") +
        (isPlaced(p) ? "" : " · " + text.notPlaced), "info");
    }
  }

  function reveal(marker) {
    var box = scroller.getBoundingClientRect();
    var at = marker.getBoundingClientRect();
    if (at.left < box.left || at.right > box.right || at.top < box.top || at.bottom > box.bottom) {
      scroller.scrollLeft += at.left - box.left - box.width / 2;
      scroller.scrollTop += at.top - box.top - box.height / 2;
    }
  }

  function setZoom(value) {
    zoom = Math.min(8, Math.max(0.25, value));
    plan.style.width = (zoom * 100) + "%";
  }

  // --- saving -------------------------------------------------------------------------------

  function save() {
    // Values are replaced (never mutated) on each edit, so an edit made while the request is
    // under way stays unsaved.
    var payload = Object.assign({}, changes);
    saveButton.disabled = true;
    fetch(saveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrfInput ? csrfInput.value : "",
        "X-Requested-With": "XMLHttpRequest",
      },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) {
          Object.keys(payload).forEach(function (id) {
            if (changes[id] === payload[id]) delete changes[id];
          });
          showStatus(data.message || text.saved, "success");
          saveButton.disabled = dirtyCount() === 0;
        } else {
          showStatus(data.error || text.failed.replace("%(status)s", response.status), "error");
          saveButton.disabled = false;
        }
      });
    }).catch(function () {
      showStatus(text.failed.replace("%(status)s", "—"), "error");
      saveButton.disabled = false;
    });
  }

  // --- wiring -------------------------------------------------------------------------------

  points.forEach(function (p) {
    renderItem(p);
    renderMarker(p);
  });

  if (search) {
    search.addEventListener("input", function () {
      var needle = search.value.trim().toLowerCase();
      Object.keys(items).forEach(function (id) {
        items[id].hidden = needle !== "" && items[id].dataset.search.indexOf(needle) === -1;
      });
    });
  }
  document.getElementById("rw-plan-zoom-in").addEventListener("click", function () {
    setZoom(zoom * 1.25);
  });
  document.getElementById("rw-plan-zoom-out").addEventListener("click", function () {
    setZoom(zoom / 1.25);
  });
  document.getElementById("rw-plan-zoom-fit").addEventListener("click", function () {
    setZoom(1);
  });
  if (saveButton) saveButton.addEventListener("click", save);
  window.addEventListener("beforeunload", function (event) {
    if (dirtyCount()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  function showHighlight() {
    if (!Number.isNaN(highlightId) && byId[highlightId]) {
      select(highlightId);
      if (items[highlightId]) items[highlightId].scrollIntoView({ block: "nearest" });
    }
  }
  if (image.complete) showHighlight();
  else image.addEventListener("load", showHighlight);
  image.addEventListener("error", function () { showStatus(text.imageFailed, "error"); });
  root.dataset.ready = "1";
})();
