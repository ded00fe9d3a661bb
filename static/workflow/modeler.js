/*
 * Workflow definition editor: enhances the definition form with the bpmn-js modeler.
 *
 * Page needs (in this order): static/vendor/bpmn-js/bpmn-modeler.production.min.js (global BpmnJS),
 * static/workflow/ruwang-moddle.js, this file; CSS: vendor/bpmn-js/diagram-js.css, bpmn-js.css,
 * bpmn-font/css/bpmn-embedded.css, workflow/diagram.css.
 *
 * Markup contract:
 *   <form id="definition-form" method="post">
 *     <textarea name="xml" id="id_xml" hidden>BPMN XML (empty: a new diagram is created)</textarea>
 *     <div id="bpmn-canvas"></div>
 *     <aside id="bpmn-props" data-labels='{"none": "...", ...}'></aside>
 *     <button type="submit">...</button>
 *   </form>
 *   <script id="bpmn-choices" type="application/json">{"roles": [[value, label], ...], "assignments": ...,
 *     "forms": ..., "handlers": ..., "attachments": ..., "departments": ...}</script>
 *   <script id="bpmn-errors" type="application/json">[{"element_id": "...", "message": "..."}]</script>
 *
 * Exposes window.RuwangWorkflowModeler = { modeler, save() } once the diagram is loaded.
 */
(function () {
  'use strict';

  var NS = 'ruwang:';

  var DEFAULT_LABELS = {
    none: '选择一个元素以编辑其属性',
    id: '编号',
    name: '名称',
    role: '角色',
    department: '部门',
    assignment: '分配方式',
    user: '指定用户',
    userPlaceholder: '用户名',
    formKey: '表单',
    attachments: '附件',
    sla: '时限',
    slaPlaceholder: '2 workdays / 4 work hours / 24 hours',
    slaFrom: '时限起算',
    slaFromPlaceholder: '流程数据名，如 verified_at（空：任务开始时）',
    remindBefore: '提前提醒',
    remindBeforePlaceholder: '4 work hours',
    escalation: '升级',
    escalationPlaceholder: 'supervisor,supervisor,role:market_manager',
    handler: '处理程序',
    condition: '条件',
    conditionPlaceholder: '',
    default: '默认路径',
    empty: '—',
    importError: '流程图无法加载：',
    saveError: '流程图无法保存：'
  };

  function readJSON(id, fallback) {
    var el = document.getElementById(id);
    if (!el || !el.textContent.trim()) {
      return fallback;
    }
    try {
      return JSON.parse(el.textContent);
    } catch (err) {
      console.warn('workflow modeler: invalid JSON in #' + id, err);
      return fallback;
    }
  }

  function parseLabels(propsEl) {
    var labels = Object.assign({}, DEFAULT_LABELS);
    var raw = propsEl && propsEl.getAttribute('data-labels');
    if (raw) {
      try {
        var given = JSON.parse(raw);
        Object.keys(given).forEach(function (key) {
          if (given[key] !== null && given[key] !== undefined && given[key] !== '') {
            labels[key] = String(given[key]);
          }
        });
      } catch (err) {
        console.warn('workflow modeler: invalid data-labels', err);
      }
    }
    return labels;
  }

  function is(bo, type) {
    return !!(bo && typeof bo.$instanceOf === 'function' && bo.$instanceOf(type));
  }

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) {
        return;
      }
      if (key === 'text') {
        el.textContent = value;
      } else if (key === 'className') {
        el.className = value;
      } else if (value === true) {
        el.setAttribute(key, '');
      } else {
        el.setAttribute(key, value);
      }
    });
    (children || []).forEach(function (child) {
      if (child) {
        el.appendChild(child);
      }
    });
    return el;
  }

  function init() {
    var form = document.getElementById('definition-form');
    var textarea = document.getElementById('id_xml');
    var container = document.getElementById('bpmn-canvas');
    var propsEl = document.getElementById('bpmn-props');

    if (!container || container.getAttribute('data-rw-ready')) {
      return;
    }
    if (typeof window.BpmnJS !== 'function') {
      console.error('workflow modeler: BpmnJS (bpmn-modeler bundle) is not loaded');
      return;
    }
    container.setAttribute('data-rw-ready', '1');

    var labels = parseLabels(propsEl);
    var choices = readJSON('bpmn-choices', {}) || {};
    var errors = readJSON('bpmn-errors', []) || [];

    var modeler = new window.BpmnJS({
      container: container,
      moddleExtensions: window.RuwangModdle ? { ruwang: window.RuwangModdle } : {}
    });

    var canvas = modeler.get('canvas');
    var modeling = modeler.get('modeling');
    var moddle = modeler.get('moddle');
    var eventBus = modeler.get('eventBus');
    var elementRegistry = modeler.get('elementRegistry');
    var overlays = modeler.get('overlays');
    var selection = modeler.get('selection');

    var current = null; // element shown in the props panel
    var updating = false; // true while the panel itself runs a command
    var uid = 0;

    // ---- properties panel ------------------------------------------------

    function update(element, props) {
      updating = true;
      try {
        modeling.updateProperties(element, props);
      } finally {
        updating = false;
      }
    }

    function attr(bo, name) {
      var value = bo.get(NS + name);
      return value === undefined || value === null ? '' : String(value);
    }

    function setAttr(element, name, value) {
      if (attr(element.businessObject, name) === value) {
        return; // no no-op commands on the undo stack
      }
      var props = {};
      props[NS + name] = value === '' ? undefined : value;
      update(element, props);
    }

    function field(labelText, control) {
      var id = control.id || ('rw-prop-' + (++uid));
      control.id = id;
      return h('div', { className: 'mb-2' }, [
        h('label', { className: 'form-label', for: id, text: labelText }),
        control
      ]);
    }

    function textField(element, name, placeholderKey) {
      var bo = element.businessObject;
      var input = h('input', {
        type: 'text',
        className: 'form-control form-control-sm',
        'data-rw-field': name,
        value: attr(bo, name),
        placeholder: placeholderKey ? labels[placeholderKey] : undefined,
        autocomplete: 'off'
      });
      input.addEventListener('change', function () {
        setAttr(element, name, input.value.trim());
      });
      return field(labels[name], input);
    }

    function selectField(element, name, options, allowEmpty) {
      var bo = element.businessObject;
      var value = attr(bo, name);
      var select = h('select', { className: 'form-select form-select-sm', 'data-rw-field': name });
      var known = false;
      if (allowEmpty !== false) {
        select.appendChild(h('option', { value: '', text: labels.empty }));
      }
      (options || []).forEach(function (pair) {
        var optionValue = String(pair[0]);
        known = known || optionValue === value;
        select.appendChild(h('option', { value: optionValue, text: pair[1] }));
      });
      if (value && !known) {
        // keep a value from the XML that is not (or no longer) offered
        select.appendChild(h('option', { value: value, text: value }));
      }
      select.value = value;
      select.addEventListener('change', function () {
        setAttr(element, name, select.value);
      });
      return field(labels[name], select);
    }

    function attachmentsField(element) {
      var bo = element.businessObject;
      var selected = attr(bo, 'attachments').split(',').map(function (s) {
        return s.trim();
      }).filter(Boolean);
      var options = (choices.attachments || []).map(function (pair) {
        return [String(pair[0]), pair[1]];
      });
      selected.forEach(function (value) {
        if (!options.some(function (pair) { return pair[0] === value; })) {
          options.push([value, value]);
        }
      });
      var group = h('div', { className: 'mb-2', role: 'group' });
      group.appendChild(h('div', { className: 'form-label', text: labels.attachments }));
      var boxes = options.map(function (pair) {
        var id = 'rw-prop-' + (++uid);
        var box = h('input', {
          type: 'checkbox',
          className: 'form-check-input',
          id: id,
          value: pair[0],
          'data-rw-field': 'attachments',
          checked: selected.indexOf(pair[0]) !== -1
        });
        group.appendChild(h('div', { className: 'form-check' }, [
          box,
          h('label', { className: 'form-check-label', for: id, text: pair[1] })
        ]));
        return box;
      });
      boxes.forEach(function (box) {
        box.addEventListener('change', function () {
          var value = boxes.filter(function (b) { return b.checked; }).map(function (b) {
            return b.value;
          }).join(',');
          setAttr(element, 'attachments', value);
        });
      });
      return group;
    }

    function nameField(element) {
      var bo = element.businessObject;
      var key = is(bo, 'bpmn:TextAnnotation') ? 'text' : 'name';
      var input = h('input', {
        type: 'text',
        className: 'form-control form-control-sm',
        'data-rw-field': 'name',
        value: bo.get(key) || '',
        autocomplete: 'off'
      });
      input.addEventListener('change', function () {
        var props = {};
        props[key] = input.value.trim() || undefined;
        if ((bo.get(key) || undefined) === props[key]) {
          return;
        }
        update(element, props);
      });
      return field(labels.name, input);
    }

    function conditionFields(element) {
      var bo = element.businessObject;
      var gateway = element.source;
      var expression = bo.conditionExpression;
      var textarea = h('textarea', {
        className: 'form-control form-control-sm font-monospace',
        'data-rw-field': 'condition',
        rows: '3',
        placeholder: labels.conditionPlaceholder || undefined
      });
      textarea.value = expression && expression.body ? expression.body : '';
      textarea.addEventListener('change', function () {
        var body = textarea.value.trim();
        var currentExpression = bo.conditionExpression;
        if (body === (currentExpression && currentExpression.body ? currentExpression.body : '')) {
          return;
        }
        update(element, {
          conditionExpression: body
            ? moddle.create('bpmn:FormalExpression', { body: body })
            : undefined
        });
      });

      var id = 'rw-prop-' + (++uid);
      var box = h('input', {
        type: 'checkbox',
        className: 'form-check-input',
        id: id,
        'data-rw-field': 'default',
        checked: gateway.businessObject.default === bo
      });
      box.addEventListener('change', function () {
        var gatewayBo = gateway.businessObject;
        if (box.checked) {
          update(gateway, { default: bo });
        } else if (gatewayBo.default === bo) {
          update(gateway, { default: undefined });
        }
      });

      return [
        field(labels.condition, textarea),
        h('div', { className: 'form-check mb-2' }, [
          box,
          h('label', { className: 'form-check-label', for: id, text: labels.default })
        ])
      ];
    }

    function render(element) {
      if (!propsEl) {
        return;
      }
      if (element && element.labelTarget) {
        element = element.labelTarget;
      }
      if (element) {
        // the live element (null once deleted; the new shape after "replace")
        element = elementRegistry.get(element.id) || null;
      }
      current = element;
      propsEl.textContent = '';

      if (!element || !element.parent) {
        propsEl.appendChild(h('p', { className: 'text-body-secondary small mb-0', text: labels.none }));
        return;
      }

      var bo = element.businessObject;
      var nodes = [
        h('div', { className: 'small text-body-secondary mb-2' }, [
          document.createTextNode(labels.id + ' '),
          h('code', { text: bo.id })
        ]),
        nameField(element)
      ];

      if (is(bo, 'bpmn:Lane')) {
        nodes.push(selectField(element, 'role', choices.roles));
        nodes.push(selectField(element, 'department', choices.departments));
      } else if (bo.$type === 'bpmn:UserTask' || bo.$type === 'bpmn:Task') {
        nodes.push(selectField(element, 'assignment', choices.assignments));
        nodes.push(selectField(element, 'role', choices.roles));
        nodes.push(textField(element, 'user', 'userPlaceholder'));
        nodes.push(selectField(element, 'formKey', choices.forms));
        nodes.push(attachmentsField(element));
        nodes.push(textField(element, 'sla', 'slaPlaceholder'));
        nodes.push(textField(element, 'slaFrom', 'slaFromPlaceholder'));
        nodes.push(textField(element, 'remindBefore', 'remindBeforePlaceholder'));
        nodes.push(textField(element, 'escalation', 'escalationPlaceholder'));
      } else if (is(bo, 'bpmn:ServiceTask')) {
        nodes.push(selectField(element, 'handler', choices.handlers));
      } else if (is(bo, 'bpmn:SequenceFlow') && element.source &&
                 is(element.source.businessObject, 'bpmn:ExclusiveGateway')) {
        nodes = nodes.concat(conditionFields(element));
      }

      var formEl = h('div', { className: 'rw-props-form' }, nodes);
      propsEl.appendChild(formEl);
    }

    if (propsEl) {
      // the panel sits inside the form: Enter in a text field applies it instead of submitting
      propsEl.addEventListener('keydown', function (event) {
        var target = event.target;
        if (event.key === 'Enter' && target.tagName === 'INPUT' && target.type === 'text') {
          event.preventDefault();
          target.dispatchEvent(new Event('change', { bubbles: true }));
        }
      });
    }

    eventBus.on('selection.changed', function (event) {
      var selected = event.newSelection || [];
      render(selected.length === 1 ? selected[0] : null);
    });

    // undo / redo / edits on the canvas: refresh the panel (not while the panel itself edits)
    eventBus.on('commandStack.changed', function () {
      if (!updating) {
        render(current);
      }
    });

    // ---- validation errors from the server ------------------------------

    function showErrors() {
      var byId = {};
      (Array.isArray(errors) ? errors : []).forEach(function (error) {
        if (!error || !error.element_id) {
          return;
        }
        var element = elementRegistry.get(String(error.element_id));
        if (!element || !element.parent) {
          return; // not on the canvas (or the root): the page lists it in text
        }
        (byId[element.id] = byId[element.id] || []).push(String(error.message || ''));
      });
      Object.keys(byId).forEach(function (id) {
        var element = elementRegistry.get(id);
        canvas.addMarker(id, 'rw-error');
        var badge = h('span', {
          className: 'rw-error-badge',
          title: byId[id].join('\n'),
          role: 'img',
          'aria-label': byId[id].join('; '),
          text: '!'
        });
        badge.addEventListener('click', function () {
          selection.select(element);
        });
        overlays.add(id, 'rw-error', {
          position: { top: -12, right: 12 },
          html: badge
        });
      });
    }

    // ---- import ----------------------------------------------------------

    function showProblem(prefix, err) {
      var message = prefix + (err && err.message ? err.message : String(err));
      console.error('workflow modeler:', err);
      var alert = h('div', { className: 'alert alert-danger small mb-2 rw-diagram-alert', role: 'alert', text: message });
      if (propsEl) {
        propsEl.insertBefore(alert, propsEl.firstChild);
      } else {
        container.parentNode.insertBefore(alert, container);
      }
    }

    var xml = textarea ? textarea.value.trim() : '';
    var loaded = xml ? modeler.importXML(xml) : modeler.createDiagram();

    var ready = loaded.then(function (result) {
      (result && result.warnings || []).forEach(function (warning) {
        console.warn('workflow modeler: import warning', warning.message || warning);
      });
      canvas.zoom('fit-viewport', 'auto');
      showErrors();
      render(null);
      return true;
    }).catch(function (err) {
      render(null);
      showProblem(labels.importError, err);
      return false;
    });

    // ---- save on submit -------------------------------------------------

    function save() {
      return modeler.saveXML({ format: true }).then(function (result) {
        if (textarea) {
          textarea.value = result.xml;
        }
        return result.xml;
      });
    }

    if (form) {
      var busy = false;
      form.addEventListener('submit', function (event) {
        event.preventDefault();
        if (busy) {
          return;
        }
        busy = true;
        var submitter = event.submitter;
        // commit a text field that still has focus (its "change" event fires on blur)
        if (document.activeElement && propsEl && propsEl.contains(document.activeElement)) {
          document.activeElement.blur();
        }
        save().then(function () {
          if (submitter && submitter.name) {
            form.appendChild(h('input', { type: 'hidden', name: submitter.name, value: submitter.value }));
          }
          if (submitter && submitter.hasAttribute('formaction')) {
            form.action = submitter.formAction;
          }
          // HTMLFormElement.submit() does not fire "submit" again: no recursion
          HTMLFormElement.prototype.submit.call(form);
        }).catch(function (err) {
          busy = false;
          showProblem(labels.saveError, err);
        });
      });
    }

    window.RuwangWorkflowModeler = { modeler: modeler, save: save, ready: ready };
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
