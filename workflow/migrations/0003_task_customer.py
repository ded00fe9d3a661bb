import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_add_region_status_index"),
        ("workflow", "0002_task_inbox_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tasks",
                to="customers.customer",
                verbose_name="customer",
            ),
        ),
        migrations.RunSQL(
            "UPDATE workflow_task SET customer_id = "
            "(SELECT customer_id FROM workflow_case WHERE workflow_case.id = workflow_task.case_id)",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="task",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tasks",
                to="customers.customer",
                verbose_name="customer",
            ),
        ),
    ]
