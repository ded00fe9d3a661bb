"""Names a BPMN definition may use: service-task handlers and user-task forms.

Handlers and forms are Python code registered here by name (`ruwang:handler`,
`ruwang:formKey`); an analyst's diagram can only refer to them, never carry code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from accounts.models import User
    from workflow.models import Case, Task


@dataclass(frozen=True)
class HandlerContext:
    case: Case
    data: Mapping[str, Any]
    actor: User | None


HandlerFunc = Callable[[HandlerContext], Mapping[str, Any] | None]


@dataclass(frozen=True)
class HandlerSpec:
    name: str
    label: Promise | str
    func: HandlerFunc
    provides: tuple[str, ...] = ()  # case data names the handler writes


# Called inside task_complete (same transaction) with the form's cleaned data, files included;
# what it returns is added to the task's data (e.g. the ids of the records it wrote).
CompleteHook = Callable[["Task", Mapping[str, Any], "User"], Mapping[str, Any] | None]
# "Save progress" on a task that stays open (e.g. goods received so far).
SaveHook = Callable[["Task", Mapping[str, Any], "User"], None]


class TaskForm(forms.Form):
    """A task form that knows its task: validation may look at the case and its customer.

    `completing` is False when the user only saves progress (see FormSpec.on_save)."""

    def __init__(self, *args: Any, task: Task, completing: bool = True, **kwargs: Any) -> None:
        self.task = task
        self.completing = completing
        super().__init__(*args, **kwargs)

    @property
    def case(self) -> Case:
        return self.task.case


@dataclass(frozen=True)
class FormSpec:
    key: str
    label: Promise | str
    form_class: type[forms.Form]
    approval: bool = False  # approve / reject (reason required on reject)
    on_complete: CompleteHook | None = None
    on_save: SaveHook | None = None
    template: str = ""  # renders the form's fields on the task page instead of the plain list
    provides: tuple[str, ...] = ()  # case data names on_complete writes (conditions may read)

    def fields(self) -> list[str]:
        return [*self.form_class.base_fields, *self.provides]


HANDLERS: dict[str, HandlerSpec] = {}
FORMS: dict[str, FormSpec] = {}
# Labels of case data written by handlers (form fields are labelled by their forms).
DATA_LABELS: dict[str, Promise | str] = {}


def service_handler(
    name: str, label: Promise | str, provides: tuple[str, ...] = ()
) -> Callable[[HandlerFunc], HandlerFunc]:
    def register(func: HandlerFunc) -> HandlerFunc:
        HANDLERS[name] = HandlerSpec(name=name, label=label, func=func, provides=provides)
        return func

    return register


def register_form(
    key: str,
    label: Promise | str,
    form_class: type[forms.Form],
    *,
    approval: bool = False,
    on_complete: CompleteHook | None = None,
    on_save: SaveHook | None = None,
    template: str = "",
    provides: tuple[str, ...] = (),
) -> None:
    FORMS[key] = FormSpec(
        key=key,
        label=label,
        form_class=form_class,
        approval=approval,
        on_complete=on_complete,
        on_save=on_save,
        template=template,
        provides=provides,
    )


def bound_form(
    spec: FormSpec,
    task: Task,
    data: Any = None,
    files: Any = None,
    *,
    completing: bool = True,
) -> forms.Form:
    """The task's form, given its task when it is a TaskForm, with the case's initial values."""
    initial: dict[str, Any] = {}
    initial_for = getattr(spec.form_class, "initial_for", None)
    if callable(initial_for):
        initial = initial_for(task.case)
    if issubclass(spec.form_class, TaskForm):
        return spec.form_class(
            data=data, files=files, initial=initial, task=task, completing=completing
        )
    return spec.form_class(data=data, files=files, initial=initial)


class ApprovalForm(forms.Form):
    """Approve, or reject with a reason (the reason goes back to whoever is returned to)."""

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Give the reason for the rejection."))
        return data


class CompletionForm(forms.Form):
    """A task without its own form: done, with an optional note."""

    note = forms.CharField(
        label=_("Note"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


register_form("approval", _("Approval"), ApprovalForm, approval=True)
register_form("done", _("Confirm completion"), CompletionForm)

# Names every condition may read besides form fields: facts about the case's customer.
CONDITION_DATA_NAMES = ("customer",)


def form_fields() -> dict[str, list[str]]:
    return {key: spec.fields() for key, spec in FORMS.items()}


def data_names() -> list[str]:
    names = list(CONDITION_DATA_NAMES)
    for spec in HANDLERS.values():
        names += spec.provides
    return names
