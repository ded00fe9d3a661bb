"""The value classification page (客户价值分类): class distribution, settings, recompute."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from insights import value
from insights.tasks import value_recompute_task
from ruwang.lib.views import require


@login_required
def value_page(request: HttpRequest) -> HttpResponse:
    user = require(request, value.VIEW_PERM)
    overview = value.value_overview(user)
    return render(request, "insights/value/overview.html", {"overview": overview})


@login_required
@require_POST
def value_recompute_now(request: HttpRequest) -> HttpResponse:
    user = require(request, value.RECOMPUTE_PERM)
    value_recompute_task.enqueue(actor_id=user.pk)
    messages.success(
        request,
        _("Recomputation started: the figures below update when it has finished."),
    )
    return redirect("insights:value")
