"""Two people completing the same task at the same moment (PostgreSQL row locks)."""

import threading

import pytest
from django.db import connection, connections
from django.test import TransactionTestCase

from accounts.services import roles_sync
from customers.tests.factories import make_customer
from ruwang.testing import make_regions, make_user
from workflow import services
from workflow.models import Task, TaskStatus
from workflow.tests.test_cases import publish


@pytest.mark.postgres
class ConcurrentCompletionTests(TransactionTestCase):
    def setUp(self) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("SQLite serialises writers; row locks are checked on PostgreSQL")
        roles_sync()
        regions = make_regions()
        self.users = [make_user(f"clerk{i}", "market_staff") for i in range(2)]
        for user in self.users:
            user.regions.add(regions["360100"])
        customer = make_customer("并发客户", regions["360102"])
        self.case = services.case_start(actor=None, customer=customer, version=publish())

    def test_one_completion_wins_the_other_is_refused_and_no_next_task_is_duplicated(self):
        task = self.case.tasks.get()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def complete(user) -> None:
            try:
                barrier.wait()
                services.task_complete(actor=user, task=task, data={"note": user.username})
                outcomes.append("ok")
            except services.TaskConflict:
                outcomes.append("conflict")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=complete, args=(u,)) for u in self.users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["conflict", "ok"]
        assert Task.objects.filter(case=self.case, node_id="Review").count() == 1
        assert Task.objects.get(pk=task.pk).status == TaskStatus.COMPLETED
        self.case.refresh_from_db()
        assert len(self.case.tokens) == 1
