from tortoise import migrations
from tortoise.migrations import operations as ops  # noqa: F401

class Migration(migrations.Migration):
    dependencies = [('models', '0017_dashboard_counts')]

    initial = False

    operations: list = []
