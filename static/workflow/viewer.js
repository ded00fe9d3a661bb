/*
 * Read-only case diagram: the process with the case's progress marked on it.
 *
 * Page needs: static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js (defines the global
 * BpmnJS too, so a page loads either the modeler bundle or the viewer bundle, never both),
 * static/workflow/ruwang-moddle.js (optional), this file; CSS: vendor/bpmn-js/diagram-js.css,
 * bpmn-js.css, workflow/diagram.css.
 *
 * Markup contract:
 *   <div id="case-diagram"></div>
 *   <script id="case-diagram-data" type="application/json">{"xml": "...", "completed": ["Task_1"],
 *     "active": ["Task_2"], "overdue": ["Task_2"], "due": {"Task_2": "11-28 18:00"},
 *     "labels": {"due": "到期", "overdue": "已逾期"}}</script>
 *
 * Markers rw-completed / rw-active / rw-overdue go on the elements; each element in "due" gets a
 * badge .rw-due-badge (plus .rw-overdue when overdue) at its bottom right.
 */
(function () {
  'use strict';

  var DEFAULT_LABELS = { due: '到期', overdue: '已逾期', importError: '流程图无法加载：' };

  function init() {
    var container = document.getElementById('case-diagram');
    var dataEl = document.getElementById('case-diagram-data');
    if (!container || !dataEl || container.getAttribute('data-rw-ready')) {
      return;
    }
    if (typeof window.BpmnJS !== 'function') {
      console.error('workflow viewer: BpmnJS (bpmn-navigated-viewer bundle) is not loaded');
      return;
    }
    container.setAttribute('data-rw-ready', '1');

    var data;
    try {
      data = JSON.parse(dataEl.textContent || '{}') || {};
    } catch (err) {
      console.error('workflow viewer: invalid JSON in #case-diagram-data', err);
      return;
    }
    var labels = Object.assign({}, DEFAULT_LABELS, data.labels || {});
    if (!data.xml) {
      return;
    }

    var viewer = new window.BpmnJS({
      container: container,
      moddleExtensions: window.RuwangModdle ? { ruwang: window.RuwangModdle } : {}
    });

    function ids(list) {
      return Array.isArray(list) ? list.map(String) : [];
    }

    viewer.importXML(data.xml).then(function () {
      var canvas = viewer.get('canvas');
      var overlays = viewer.get('overlays');
      var elementRegistry = viewer.get('elementRegistry');

      function exists(id) {
        var element = elementRegistry.get(id);
        return !!(element && element.parent);
      }

      canvas.zoom('fit-viewport', 'auto');

      var overdue = ids(data.overdue);
      [['completed', 'rw-completed'], ['active', 'rw-active'], ['overdue', 'rw-overdue']].forEach(function (pair) {
        ids(data[pair[0]]).filter(exists).forEach(function (id) {
          canvas.addMarker(id, pair[1]);
        });
      });

      var due = data.due && typeof data.due === 'object' ? data.due : {};
      Object.keys(due).filter(exists).forEach(function (id) {
        var late = overdue.indexOf(id) !== -1;
        var badge = document.createElement('span');
        badge.className = 'rw-due-badge' + (late ? ' rw-overdue' : '');
        badge.textContent = labels.due + ' ' + String(due[id]);
        if (late) {
          badge.title = labels.overdue;
        }
        overlays.add(id, 'rw-due', {
          position: { bottom: 0, right: 0 },
          html: badge
        });
      });
    }).catch(function (err) {
      console.error('workflow viewer:', err);
      var alert = document.createElement('div');
      alert.className = 'alert alert-danger small mb-0';
      alert.setAttribute('role', 'alert');
      alert.textContent = labels.importError + (err && err.message ? err.message : String(err));
      container.parentNode.insertBefore(alert, container);
    });

    window.RuwangWorkflowViewer = viewer;
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
