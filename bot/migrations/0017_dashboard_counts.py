from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0016_article_versions')]

    initial = False

    operations = [
        # The 首页's settled days, counted once (bot/web/dashboard.py).
        ops.CreateModel(
            name='DashboardDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('part', fields.CharField(max_length=16)),
                ('basis', fields.CharField(max_length=32)),
                ('numbers', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('counted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'dashboard_day', 'app': 'models', 'unique_together': (('day', 'part'),), 'pk_attr': 'id', 'table_description': "The 首页's numbers of one county day that can no longer change (bot/web/dashboard.py): counted"},
            bases=['Model'],
        ),
        # Villagers by township and channel are counted from the index alone; it also serves what
        # (status, township) served.
        ops.RemoveIndex(
            model_name='Subscriber',
            name='idx_subscriber_status_town',
            fields=None,
        ),
        ops.AddIndex(
            model_name='Subscriber',
            index=Index(fields=['status', 'township', 'preferred_channel'], name='idx_subscriber_status_town_chan'),
        ),
    ]
