"""The shipped BPMN files: valid, published after migrate, published again only when changed."""

import tempfile
from pathlib import Path
from unittest import mock

from django.test import TestCase

from onboarding import services
from onboarding.services import PROCESSES_DIR, TOBACCO_PROCESS_KEY, shipped_processes_sync
from workflow import bpmn
from workflow.graph import Assignment, NodeType
from workflow.models import DefinitionVersion, VersionStatus
from workflow.services import definition_problems, published_version

TOBACCO = PROCESSES_DIR / "tobacco_retailer.bpmn"


class ShippedProcessTests(TestCase):
    def test_the_tobacco_process_has_no_validation_problems(self):
        assert definition_problems(TOBACCO.read_text(encoding="utf-8")) == []

    def test_migrate_published_it_and_a_second_sync_publishes_nothing(self):
        shipped_processes_sync()
        version = published_version(TOBACCO_PROCESS_KEY)
        assert version.definition.name == "新入网零售户信息管理"
        assert version.problems == []
        count = DefinitionVersion.objects.count()
        assert shipped_processes_sync() == []
        assert DefinitionVersion.objects.count() == count

    def test_a_changed_file_is_published_as_a_new_version_and_retires_the_old_one(self):
        shipped_processes_sync()
        old = published_version(TOBACCO_PROCESS_KEY)
        changed = TOBACCO.read_text(encoding="utf-8").replace('name="审核结果"', 'name="审核结论"')
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / TOBACCO.name).write_text(changed, encoding="utf-8")
            with mock.patch.object(services, "PROCESSES_DIR", Path(folder)):
                assert shipped_processes_sync() == [TOBACCO_PROCESS_KEY]
        new = published_version(TOBACCO_PROCESS_KEY)
        assert new.number == old.number + 1
        old.refresh_from_db()
        assert old.status == VersionStatus.RETIRED

    def test_sync_does_nothing_before_the_workflow_tables_exist(self):
        with mock.patch.object(services.connection.introspection, "table_names", return_value=[]):
            assert shipped_processes_sync() == []

    def test_the_diagram_follows_the_sop_roles(self):
        graph = bpmn.parse(TOBACCO.read_text(encoding="utf-8"))
        assert graph.id == "tobacco_retailer_onboarding"
        assert {lane.name: lane.role for lane in graph.lanes.values()} == {
            "市场经理": "market_manager",
            "系统管理员": "system_admin",
            "客户经理": "account_manager",
        }
        tasks = {n.id: n for n in graph.nodes.values() if n.type == NodeType.USER_TASK}
        assert {node_id: graph.task_role(node_id) for node_id in tasks} == {
            "Activity_Assign": "market_manager",
            "Activity_Register": "system_admin",
            "Activity_Verify": "account_manager",
            "Activity_Review": "market_manager",
        }
        slas = {node_id: node.task.sla for node_id, node in tasks.items()}
        assert slas == {
            "Activity_Assign": "1 workdays",
            "Activity_Register": "2 workdays",
            "Activity_Verify": "3 workdays",
            "Activity_Review": "1 workdays",
        }
        assert all(n.task.escalation == ("supervisor", "supervisor") for n in tasks.values())
        verify = tasks["Activity_Verify"].task
        assert verify.assignment == Assignment.OWNER
        assert verify.attachments == ("licence",)
        assert tasks["Activity_Review"].task.remind_before == "4 work hours"
