"""Joint test (联调) pages: start a session for a collector, watch its rows fill in live,
finish it (result + PDF report in the customer's documents) or cancel it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from devices import joint_test_services as services
from devices import selectors
from devices.gb26875.codes import component_type_name
from devices.models import Collector, ItemResult, JointTest, JointTestItem, JointTestStatus
from ruwang.lib.views import require
from workflow.models import Case, CaseStatus


def _collector(user: User, pk: int) -> Collector:
    try:
        return selectors.collector_get(user, pk)
    except Collector.DoesNotExist:
        raise Http404 from None


def _test(user: User, pk: int) -> JointTest:
    test = (
        JointTest.objects.select_related(
            "collector__customer", "collector__site", "case", "report", "started_by"
        )
        .filter(pk=pk)
        .first()
    )
    if test is None or not selectors.collector_visible(user, test.collector):
        raise Http404
    return test


def _counts(test: JointTest) -> dict[str, int]:
    rows = test.items.values("result").annotate(n=Count("id"))
    counts = {value: 0 for value in ItemResult.values}
    counts.update({row["result"]: row["n"] for row in rows})
    return counts


@login_required
def joint_test_list(request: HttpRequest) -> HttpResponse:
    user = require(request, "devices.view_collector")
    visible = JointTest.objects.filter(collector__in=selectors.collectors_visible_to(user))
    status = request.GET.get("status", "")
    if status in JointTestStatus.values:
        visible = visible.filter(status=status)
    tests = list(
        visible.select_related(
            "collector__customer", "collector__site", "started_by", "case"
        ).order_by("-started_at", "-id")[:100]
    )
    # Row counts in one grouped query (grouping the page's wide joined rows would be slower).
    counts = {
        row["test"]: row
        for row in JointTestItem.objects.filter(test__in=tests)
        .values("test")
        .annotate(total=Count("id"), passed=Count("id", filter=Q(result=ItemResult.PASSED)))
    }
    for test in tests:
        row = counts.get(test.pk, {})
        test.total = row.get("total", 0)  # type: ignore[attr-defined]
        test.passed = row.get("passed", 0)  # type: ignore[attr-defined]
    return render(
        request,
        "devices/joint_tests/list.html",
        {"tests": tests, "status": status, "statuses": JointTestStatus.choices},
    )


@login_required
def joint_test_start(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.run_joint_test")
    collector = _collector(user, pk)
    cases = (
        Case.objects.filter(
            customer_id=collector.customer_id, status__in=(CaseStatus.RUNNING, CaseStatus.ON_HOLD)
        )
        .select_related("version")
        .order_by("-started_at")
        if collector.customer_id
        else Case.objects.none()
    )
    errors: list[str] = []
    if request.method == "POST":
        case = None
        raw_case = request.POST.get("case", "")
        if raw_case:
            case = cases.filter(pk=raw_case if raw_case.isdigit() else 0).first()
            if case is None:
                errors.append(_("Choose one of the customer's open cases."))
        raw_delay = request.POST.get("max_delay_seconds", "10").strip()
        if not raw_delay.isdigit():
            errors.append(_("Maximum delay: enter a whole number of seconds."))
        if not errors:
            try:
                test = services.joint_test_start(
                    actor=user, collector=collector, case=case, max_delay_seconds=int(raw_delay)
                )
            except ValidationError as exc:
                errors += exc.messages
            else:
                messages.success(request, _("Joint test started: trigger the points now."))
                return redirect("devices:joint_test", pk=test.pk)
    open_test = collector.joint_tests.filter(status=JointTestStatus.OPEN).first()
    return render(
        request,
        "devices/joint_tests/start.html",
        {
            "collector": collector,
            "cases": cases,
            "chosen_case": request.POST.get("case") or request.GET.get("case", ""),
            "errors": errors,
            "open_test": open_test,
            "points": collector.systems.aggregate(
                n=Count("points", filter=Q(points__enabled=True))
            )["n"],
        },
    )


@login_required
def joint_test_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.view_collector")
    test = _test(user, pk)
    items = list(test.items.select_related("point__floor", "point__system", "event").order_by("id"))
    for item in items:
        code = (
            item.point.component_type
            if item.point
            else (item.event.component_type if item.event else None)
        )
        item.type_name = component_type_name(code) if code is not None else ""  # type: ignore[attr-defined]
    context = {
        "test": test,
        "items": items,
        "counts": _counts(test),
        "can_run": user.has_perm("devices.run_joint_test"),
        "is_open": test.status == JointTestStatus.OPEN,
    }
    if getattr(request, "htmx", False):
        return render(request, "devices/joint_tests/_rows.html", context)
    return render(request, "devices/joint_tests/detail.html", context)


@login_required
@require_POST
def joint_test_finish(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.run_joint_test")
    test = _test(user, pk)
    try:
        test = services.joint_test_finish(
            actor=user, test=test, notes=request.POST.get("notes", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if test.status == JointTestStatus.PASSED:
            messages.success(
                request, _("Joint test passed; the report is in the customer's documents.")
            )
        else:
            messages.warning(request, _("Joint test failed; the report lists what to fix."))
    return redirect("devices:joint_test", pk=test.pk)


@login_required
@require_POST
def joint_test_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = require(request, "devices.run_joint_test")
    test = _test(user, pk)
    try:
        services.joint_test_cancel(actor=user, test=test, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Joint test cancelled."))
    return redirect("devices:joint_test", pk=test.pk)


urlpatterns = [
    path("joint-tests/", joint_test_list, name="joint_tests"),
    path("joint-tests/<int:pk>/", joint_test_detail, name="joint_test"),
    path("joint-tests/<int:pk>/finish/", joint_test_finish, name="joint_test_finish"),
    path("joint-tests/<int:pk>/cancel/", joint_test_cancel, name="joint_test_cancel"),
    path("collectors/<int:pk>/joint-test/", joint_test_start, name="joint_test_start"),
]
