/*
 * Moddle extension for the Ruwang BPMN namespace (urn:ruwang:bpmn:1).
 *
 * Adds plain string attributes, written as ruwang:xxx="..." on the BPMN elements:
 *   bpmn:Lane        role, department
 *   bpmn:Task        assignment, role, user, formKey, attachments, sla, slaFrom, remindBefore,
 *                    escalation
 *                    (bpmn:UserTask, bpmn:ServiceTask, ... inherit them from bpmn:Task)
 *   bpmn:ServiceTask handler
 *
 * Loaded as a classic script: defines window.RuwangModdle, passed to bpmn-js as
 *   new BpmnJS({ moddleExtensions: { ruwang: window.RuwangModdle } })
 * (also exported for CommonJS, e.g. node tests).
 */
(function (root) {
  'use strict';

  function attrs(names) {
    return names.map(function (name) {
      return { name: name, isAttr: true, type: 'String' };
    });
  }

  var descriptor = {
    name: 'Ruwang',
    prefix: 'ruwang',
    uri: 'urn:ruwang:bpmn:1',
    xml: { tagAlias: 'lowerCase' },
    associations: [],
    types: [
      {
        name: 'LaneAttributes',
        extends: ['bpmn:Lane'],
        properties: attrs(['role', 'department'])
      },
      {
        // bpmn:UserTask (and every other task type) extends bpmn:Task, so one
        // extension covers bpmn:Task and bpmn:UserTask without duplicate properties.
        name: 'TaskAttributes',
        extends: ['bpmn:Task'],
        properties: attrs([
          'assignment', 'role', 'user', 'formKey', 'attachments',
          'sla', 'slaFrom', 'remindBefore', 'escalation'
        ])
      },
      {
        name: 'ServiceTaskAttributes',
        extends: ['bpmn:ServiceTask'],
        properties: attrs(['handler'])
      }
    ],
    enumerations: []
  };

  if (typeof module === 'object' && module.exports) {
    module.exports = descriptor;
  }
  if (root) {
    root.RuwangModdle = descriptor;
  }
})(typeof window !== 'undefined' ? window : this);
