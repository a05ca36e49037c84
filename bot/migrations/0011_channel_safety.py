from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_answers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PushItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('provider', fields.CharField(max_length=16)),
                ('kind', fields.CharField(max_length=16)),
                ('key', fields.CharField(max_length=64)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('batch', fields.CharField(max_length=32)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.SmallIntField(default=0, db_default=0)),
                ('error', fields.CharField(null=True, max_length=300)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('processed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'push_item', 'app': 'models', 'unique_together': (('provider', 'key'),), 'indexes': [Index(fields=['processed_at', 'lease_until'], name='idx_push_item_pending'), Index(fields=['batch'], name='idx_push_item_batch'), Index(fields=['received_at'], name='idx_push_item_received')], 'pk_attr': 'id', 'table_description': 'A pushed item stored before it is acknowledged, then processed from here (bot/intake.py).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SeenNonce',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('timestamp', fields.BigIntField()),
                ('nonce', fields.CharField(max_length=64)),
            ],
            options={'table': 'seen_nonce', 'app': 'models', 'unique_together': (('channel', 'timestamp', 'nonce'),), 'indexes': [Index(fields=['timestamp'], name='idx_seen_nonce_time')], 'pk_attr': 'id', 'table_description': "A webhook request's (timestamp, nonce) already accepted: refused if it comes again (replay)."},
            bases=['Model'],
        ),
    ]
