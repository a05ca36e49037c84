from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_delivery_states')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccessToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('app_id', fields.CharField(unique=True, max_length=64)),
                ('token', fields.CharField(max_length=1024)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'access_token', 'app': 'models', 'pk_attr': 'id', 'table_description': "A provider access token shared by every process (WeChat's must not be fetched per process)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Subscriber',
            name='wechat_cs_sent',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Subscriber',
            name='wechat_followed',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
