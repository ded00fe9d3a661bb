"""The company's calendar entries drive deadlines; years without official data are flagged."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import time_machine

from customers.tests.factories import make_customer
from ruwang.testing import PersonaTestCase, make_regions
from workflow import services
from workflow.business_calendar import unofficial_years_ahead
from workflow.models import CalendarDay, CalendarYear
from workflow.tests.test_cases import publish

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


class CalendarAdminTests(PersonaTestCase):
    def test_only_the_process_administrator_may_edit_the_calendar(self):
        self.assert_access("/admin/workflow/calendarday/", allowed={"sysadmin"})

    @time_machine.travel(NOW, tick=False)
    def test_a_year_without_official_data_is_warned_about_until_announced(self):
        assert unofficial_years_ahead() == [2027]
        client = self.client_as("sysadmin")
        page = client.get("/admin/workflow/calendarday/", follow=True).content.decode()
        assert "2027" in page and ("State Council" in page or "国务院" in page)
        assert b"rw-calendar-warning" in client.get("/work/processes/").content
        client.post(
            "/admin/workflow/calendaryear/add/", {"year": 2027, "announced": "on", "note": ""}
        )
        assert CalendarYear.objects.filter(year=2027).exists()
        assert unofficial_years_ahead() == []
        assert b"rw-calendar-warning" not in client.get("/work/processes/").content

    def test_a_deadline_into_2027_skips_an_admin_entered_holiday(self):
        client = self.client_as("sysadmin")
        client.post(
            "/admin/workflow/calendarday/add/",
            {"date": "2027-01-01", "is_workday": "", "note": "元旦"},
        )
        assert CalendarDay.objects.get(date=date(2027, 1, 1)).is_workday is False
        customer = make_customer("跨年客户", make_regions()["360102"])
        with time_machine.travel(datetime(2026, 12, 31, 16, 0, tzinfo=SHANGHAI), tick=False):
            case = services.case_start(actor=None, customer=customer, version=publish())
        # 2 h on 12-31; 01-01 holiday (entered); 01-02/03 weekend (Mon–Fri fallback);
        # 7.5 h on 01-04; 5.5 h on 01-05 → 16:00.
        assert case.tasks.get().due_at == datetime(2027, 1, 5, 16, 0, tzinfo=SHANGHAI)

    def test_working_hours_in_a_bad_format_are_refused_with_a_message(self):
        client = self.client_as("sysadmin")
        response = client.post("/admin/workflow/workinghourssetting/add/", {"periods": "9点到12点"})
        assert response.status_code == 200
        assert "09:00-12:00" in response.content.decode()
