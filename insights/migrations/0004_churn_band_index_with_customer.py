from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0003_association_windows"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="churnscore",
            name="churn_score_band",
        ),
        migrations.AddIndex(
            model_name="churnscore",
            index=models.Index(
                fields=["band", "-score", "customer"], name="churn_score_band_order"
            ),
        ),
    ]
