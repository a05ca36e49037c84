from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_wechat')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Officer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=50)),
                ('role', fields.CharField(max_length=16)),
                ('password_hash', fields.CharField(max_length=200)),
                ('active', fields.BooleanField(default=True, db_default=True)),
                ('failed_logins', fields.IntField(default=0, db_default=0)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'officer', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An extension officer console account, with role officer, supervisor or admin.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked', fields.BooleanField(default=False, db_default=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A bearer token for the JSON API, of which only the SHA-256 is stored.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Broadcast',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=16)),
                ('text', fields.TextField(unique=False)),
                ('article_ref', fields.CharField(null=True, max_length=100)),
                ('audience', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('schedule', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('spread_minutes', fields.IntField(default=0, db_default=0)),
                ('state', fields.CharField(default='pending_approval', db_default='pending_approval', max_length=20)),
                ('created_by', fields.ForeignKeyField('models.Officer', source_field='created_by_id', db_constraint=True, to_field='id', related_name='broadcasts_created', on_delete=OnDelete.RESTRICT)),
                ('approved_by', fields.ForeignKeyField('models.Officer', source_field='approved_by_id', null=True, db_constraint=True, to_field='id', related_name='broadcasts_approved', on_delete=OnDelete.RESTRICT)),
                ('approved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reason', fields.CharField(default='', db_default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'broadcast', 'app': 'models', 'indexes': [Index(fields=['state', 'id'], name='idx_broadcast_state')], 'pk_attr': 'id', 'table_description': 'A message for an audience, on a schedule, approved by a supervisor before anything goes out.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BroadcastRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('broadcast', fields.ForeignKeyField('models.Broadcast', source_field='broadcast_id', db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.CASCADE)),
                ('fire_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('state', fields.CharField(default='enqueuing', db_default='enqueuing', max_length=20)),
                ('targeted', fields.IntField(default=0, db_default=0)),
                ('note', fields.CharField(default='', db_default='', max_length=300)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'broadcast_run', 'app': 'models', 'unique_together': (('broadcast_id', 'fire_at'),), 'indexes': [Index(fields=['state', 'id'], name='idx_run_state')], 'pk_attr': 'id', 'table_description': 'One firing of a broadcast (a recurring one fires many times). (broadcast, fire_at) is unique,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('run', fields.ForeignKeyField('models.BroadcastRun', source_field='run_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=16)),
                ('priority', fields.SmallIntField(default=10, db_default=10)),
                ('state', fields.CharField(default='queued', db_default='queued', max_length=16)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, max_length=64)),
                ('attempts', fields.SmallIntField(default=0, db_default=0)),
                ('provider_id', fields.CharField(null=True, max_length=64)),
                ('error_code', fields.CharField(null=True, max_length=32)),
                ('error', fields.CharField(null=True, max_length=300)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'delivery', 'app': 'models', 'unique_together': (('run_id', 'subscriber_id'),), 'indexes': [Index(fields=['state', 'priority', 'due_at'], name='idx_delivery_claim'), Index(fields=['run_id', 'state'], name='idx_delivery_run_state'), Index(fields=['provider_id'], name='idx_delivery_provider')], 'pk_attr': 'id', 'table_description': 'One recipient of one run. Written before any send, and `sending` is committed before the provider'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RateBucket',
            fields=[
                ('channel', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ('tat', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'rate_bucket', 'app': 'models', 'pk_attr': 'channel', 'table_description': 'Shared pacing per channel on PostgreSQL: the time the next message may go (GCRA).'},
            bases=['Model'],
        ),
    ]
