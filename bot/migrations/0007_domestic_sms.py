from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_prices_labour')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TemplateSend',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('provider', fields.CharField(max_length=16)),
                ('phone', fields.CharField(max_length=20)),
                ('template', fields.CharField(max_length=32)),
                ('out_id', fields.CharField(max_length=64)),
                ('text_hash', fields.CharField(max_length=16)),
                ('biz_id', fields.CharField(null=True, max_length=64)),
                ('provider_id', fields.CharField(null=True, max_length=64)),
                ('state', fields.CharField(default='reserved', db_default='reserved', max_length=16)),
                ('error_code', fields.CharField(null=True, max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('reported_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'template_send', 'app': 'models', 'indexes': [Index(fields=['phone', 'template', 'created_at'], name='idx_template_send_quota'), Index(fields=['out_id', 'phone'], name='idx_template_send_receipt'), Index(fields=['state', 'created_at'], name='idx_template_send_state')], 'pk_attr': 'id', 'table_description': 'One number of one domestic template SMS, written before the provider is called: the per-number'},
            bases=['Model'],
        ),
    ]
