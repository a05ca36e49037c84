from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_broadcasts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Commodity',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=30)),
                ('aliases', fields.CharField(default='', db_default='', max_length=300)),
                ('unit', fields.CharField(default='元/斤', db_default='元/斤', max_length=10)),
                ('group', fields.CharField(default='', db_default='', max_length=10)),
            ],
            options={'table': 'commodity', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A standard product name, the other names people use for it, and the unit prices are kept in.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Job',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employer', fields.CharField(max_length=100)),
                ('work_type', fields.CharField(max_length=30)),
                ('place', fields.CharField(max_length=50)),
                ('wage', fields.CharField(max_length=50)),
                ('pay_terms', fields.CharField(default='', db_default='', max_length=100)),
                ('headcount', fields.IntField(default=1, db_default=1)),
                ('start_date', fields.DateField(null=True)),
                ('end_date', fields.DateField(null=True)),
                ('contact', fields.CharField(max_length=50)),
                ('expires_on', fields.DateField()),
                ('verified_by', fields.CharField(default='', db_default='', max_length=50)),
                ('pushed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'job', 'app': 'models', 'indexes': [Index(fields=['expires_on', 'work_type'], name='idx_job_expiry_type')], 'pk_attr': 'id', 'table_description': 'A labour notice: who hires, for what, where, for how much and until when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Market',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=50)),
                ('township', fields.CharField(default='', db_default='', max_length=50)),
                ('city', fields.CharField(default='', db_default='', max_length=50)),
                ('kind', fields.CharField(default='批发', db_default='批发', max_length=8)),
            ],
            options={'table': 'market', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Where prices are collected, with kind 田头 (farm gate), 批发 (wholesale) or 零售 (retail).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PriceAlert',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', db_constraint=True, to_field='id', related_name='price_alerts', on_delete=OnDelete.CASCADE)),
                ('commodity', fields.ForeignKeyField('models.Commodity', source_field='commodity_id', db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=8)),
                ('threshold', fields.FloatField()),
                ('armed', fields.BooleanField(default=True, db_default=True)),
                ('last_price', fields.FloatField(null=True)),
                ('last_alert_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'price_alert', 'app': 'models', 'unique_together': (('subscriber_id', 'commodity_id', 'kind'),), 'pk_attr': 'id', 'table_description': "A subscriber's price alert: above/below a threshold, or a move of pct percent. `armed` is"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PriceRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('date', fields.DateField()),
                ('market', fields.ForeignKeyField('models.Market', source_field='market_id', db_constraint=True, to_field='id', related_name='prices', on_delete=OnDelete.CASCADE)),
                ('commodity', fields.ForeignKeyField('models.Commodity', source_field='commodity_id', db_constraint=True, to_field='id', related_name='prices', on_delete=OnDelete.CASCADE)),
                ('price', fields.FloatField()),
                ('raw_price', fields.FloatField()),
                ('raw_unit', fields.CharField(max_length=10)),
                ('status', fields.CharField(default='published', db_default='published', max_length=12)),
                ('source', fields.CharField(default='', db_default='', max_length=100)),
                ('recorded_by', fields.CharField(default='', db_default='', max_length=50)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'price_record', 'app': 'models', 'unique_together': (('date', 'market_id', 'commodity_id'),), 'indexes': [Index(fields=['commodity_id', 'status', 'date'], name='idx_price_commodity_date')], 'pk_attr': 'id', 'table_description': "One price on one day at one market, in the commodity's standard unit. Prices far from the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnmappedPrice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('date', fields.DateField()),
                ('market_name', fields.CharField(max_length=50)),
                ('commodity_name', fields.CharField(max_length=30)),
                ('raw_price', fields.FloatField()),
                ('raw_unit', fields.CharField(max_length=10)),
                ('source', fields.CharField(default='', db_default='', max_length=100)),
                ('reason', fields.CharField(max_length=200)),
                ('status', fields.CharField(default='open', db_default='open', max_length=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'unmapped_price', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A price row naming a market or commodity we do not know: kept for an officer to map.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WageArrearsNotice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employer', fields.CharField(max_length=100)),
                ('amount', fields.FloatField(default=0.0)),
                ('case_status', fields.CharField(default='', db_default='', max_length=50)),
                ('published_by', fields.CharField(default='', db_default='', max_length=50)),
                ('published_on', fields.DateField()),
                ('active', fields.BooleanField(default=True, db_default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'wage_arrears_notice', 'app': 'models', 'pk_attr': 'id', 'table_description': "The county labour bureau's warning about an employer that owes wages."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WorkerProfile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscriber', fields.OneToOneField('models.Subscriber', source_field='subscriber_id', db_constraint=True, to_field='id', related_name='worker_profile', on_delete=OnDelete.CASCADE)),
                ('skills', fields.CharField(default='', db_default='', max_length=200)),
                ('home_township', fields.CharField(default='', db_default='', max_length=50)),
                ('destinations', fields.CharField(default='', db_default='', max_length=200)),
                ('available_from', fields.DateField(null=True)),
                ('max_pushes_per_day', fields.IntField(default=1, db_default=1)),
                ('last_pushed_on', fields.DateField(null=True)),
                ('pushes_today', fields.IntField(default=0, db_default=0)),
                ('active', fields.BooleanField(default=True, db_default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'worker_profile', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A villager who opted in to job notices: skills, home, where they would go, and from when.'},
            bases=['Model'],
        ),
    ]
