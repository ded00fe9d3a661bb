"""Who a new task goes to: role pool, customer owner, territory manager, named user, least busy."""

from pathlib import Path

from accounts.services import territory_create
from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions, make_user
from workflow import services
from workflow.models import TaskStatus

BPMN = (Path(__file__).parent / "bpmn" / "approval_loop.bpmn").read_text()


def publish_with(assignment: str, **extra: str):
    attrs = f'ruwang:assignment="{assignment}"' + "".join(
        f' ruwang:{k}="{v}"' for k, v in extra.items()
    )
    xml = BPMN.replace('ruwang:formKey="done"', f'ruwang:formKey="done" {attrs}').replace(
        'id="test_approval"', f'id="test_{assignment}"'
    )
    version = services.definition_upload(actor=None, xml=xml)
    assert version.problems == [], version.problems
    return services.version_publish(actor=None, version=version)


class AssignmentTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.regions = make_regions()

    def first_task(self, version, customer):
        case = services.case_start(actor=None, customer=customer, version=version)
        return case.tasks.get()

    def test_role_pool_leaves_the_task_unclaimed_for_the_lanes_role(self):
        task = self.first_task(
            publish_with("role"), make_customer("池客户", self.regions["360102"])
        )
        assert task.status == TaskStatus.READY and task.assignee is None
        assert task.role == "market_staff"

    def test_owner_rule_gives_the_task_to_the_customers_account_manager(self):
        owner = self.users["account_manager"]
        customer = make_customer("有主客户", self.regions["360102"], owner=owner)
        task = self.first_task(publish_with("owner", role="account_manager"), customer)
        assert task.assignee == owner and task.status == TaskStatus.CLAIMED

    def test_territory_rule_finds_the_account_manager_of_the_district(self):
        manager = make_user("am_east", "account_manager")
        east = territory_create(
            actor=None, code="east", name="东片", districts=[self.regions["360103"]]
        )
        manager.territories.add(east)
        customer = make_customer("片区客户", self.regions["360103"])
        version = publish_with("territory", role="account_manager")
        assert self.first_task(version, customer).assignee == manager
        elsewhere = make_customer("无片区客户", self.regions["360402"])
        task = self.first_task(version, elsewhere)
        assert task.assignee is None and task.role == "account_manager"  # falls back to the pool

    def test_named_user_rule(self):
        task = self.first_task(
            publish_with("user", user="market"), make_customer("指定客户", self.regions["360102"])
        )
        assert task.assignee == self.users["market"]

    def test_least_busy_rule_skips_inactive_people_and_balances_open_tasks(self):
        busy, idle, away = (make_user(n, "procurement") for n in ("busy", "idle", "away"))
        away.is_active = False
        away.save()
        self.users["procurement"].is_active = False
        self.users["procurement"].save()
        version = publish_with("least_busy", role="procurement")
        customer = make_customer("均衡客户", self.regions["360102"])
        first = self.first_task(version, customer)
        second = self.first_task(version, customer)
        third = self.first_task(version, customer)
        assert {first.assignee, second.assignee} == {busy, idle}
        assert third.assignee in {busy, idle}
        assert away not in {first.assignee, second.assignee, third.assignee}
