from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_domestic_sms')]

    initial = False

    operations = [
        ops.AddField(
            model_name='BroadcastRun',
            name='text',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
