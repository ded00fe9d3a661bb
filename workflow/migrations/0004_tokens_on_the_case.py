"""The engine's tokens move onto the case row (every step locks, reads and writes it anyway)."""

from django.db import migrations, models


def tokens_to_cases(apps, schema_editor):
    Case = apps.get_model("workflow", "Case")
    Token = apps.get_model("workflow", "Token")
    parked: dict[int, list[list[object]]] = {}
    for case_id, number, node_id, flow_id in Token.objects.order_by(
        "case_id", "number"
    ).values_list("case_id", "number", "node_id", "flow_id"):
        parked.setdefault(case_id, []).append([number, node_id, flow_id])
    for case_id, tokens in parked.items():
        Case.objects.filter(pk=case_id).update(tokens=tokens)


def tokens_to_rows(apps, schema_editor):
    Case = apps.get_model("workflow", "Case")
    Token = apps.get_model("workflow", "Token")
    rows = [
        Token(case_id=case_id, number=number, node_id=node_id, flow_id=flow_id)
        for case_id, tokens in Case.objects.exclude(tokens=[]).values_list("id", "tokens")
        for number, node_id, flow_id in tokens
    ]
    Token.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("workflow", "0003_task_customer")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="tokens",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(tokens_to_cases, tokens_to_rows),
        migrations.DeleteModel(name="Token"),
    ]
