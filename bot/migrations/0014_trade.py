from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_weather')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TradeBlock',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscriber', fields.OneToOneField('models.Subscriber', source_field='subscriber_id', db_constraint=True, to_field='id', related_name='trade_block', on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharField(default='', db_default='', max_length=100)),
                ('created_by', fields.CharField(default='', db_default='', max_length=50)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'trade_block', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A villager whose posts are refused (fraud, abuse), set by an officer.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TradeBuyer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('kind', fields.CharField(default='', db_default='', max_length=20)),
                ('phone', fields.CharField(unique=True, max_length=20)),
                ('township', fields.CharField(default='', db_default='', max_length=50)),
                ('commodities', fields.CharField(default='', db_default='', max_length=300)),
                ('areas', fields.CharField(default='', db_default='', max_length=300)),
                ('quantity', fields.FloatField(default=0.0, db_default=0.0)),
                ('price', fields.FloatField(null=True)),
                ('verified', fields.BooleanField(default=False, db_default=False)),
                ('active', fields.BooleanField(default=True, db_default=True)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', null=True, db_constraint=True, to_field='id', related_name='trade_buyers', on_delete=OnDelete.SET_NULL)),
                ('created_by', fields.CharField(default='', db_default='', max_length=50)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'trade_buyer', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A cooperative, trader or processor an officer registered: what it buys, where, how much.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TradeListing',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscriber', fields.ForeignKeyField('models.Subscriber', source_field='subscriber_id', db_constraint=True, to_field='id', related_name='trade_listings', on_delete=OnDelete.CASCADE)),
                ('buyer', fields.ForeignKeyField('models.TradeBuyer', source_field='buyer_id', null=True, db_constraint=True, to_field='id', related_name='listings', on_delete=OnDelete.SET_NULL)),
                ('number', fields.IntField()),
                ('side', fields.CharField(max_length=4)),
                ('commodity', fields.CharField(max_length=30)),
                ('quantity', fields.FloatField()),
                ('unit', fields.CharField(max_length=8)),
                ('price', fields.FloatField(null=True)),
                ('price_unit', fields.CharField(default='', db_default='', max_length=8)),
                ('township', fields.CharField(default='', db_default='', max_length=50)),
                ('village', fields.CharField(default='', db_default='', max_length=50)),
                ('grade', fields.CharField(default='', db_default='', max_length=30)),
                ('available', fields.CharField(default='', db_default='', max_length=30)),
                ('contact', fields.CharField(max_length=20)),
                ('text', fields.CharField(default='', db_default='', max_length=200)),
                ('state', fields.CharField(default='open', db_default='open', max_length=10)),
                ('expires_on', fields.DateField()),
                ('expiry_told', fields.BooleanField(default=False, db_default=False)),
                ('created_on', fields.DateField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'trade_listing', 'app': 'models', 'unique_together': (('subscriber', 'number'),), 'indexes': [Index(fields=['state', 'commodity', 'side'], name='idx_trade_listing_open')], 'pk_attr': 'id', 'table_description': 'One thing a villager (or a registered buyer) sells or wants: numbered per poster (取消 1).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TradeMatch',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sell', fields.ForeignKeyField('models.TradeListing', source_field='sell_id', db_constraint=True, to_field='id', related_name='sell_matches', on_delete=OnDelete.CASCADE)),
                ('buy', fields.ForeignKeyField('models.TradeListing', source_field='buy_id', db_constraint=True, to_field='id', related_name='buy_matches', on_delete=OnDelete.CASCADE)),
                ('score', fields.IntField()),
                ('reasons', fields.CharField(max_length=200)),
                ('market_price', fields.FloatField(null=True)),
                ('state', fields.CharField(default='proposed', db_default='proposed', max_length=10)),
                ('sell_answer', fields.CharField(default='', db_default='', max_length=3)),
                ('buy_answer', fields.CharField(default='', db_default='', max_length=3)),
                ('proposed_on', fields.DateField()),
                ('proposed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('exchanged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('outcome_asked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'trade_match', 'app': 'models', 'unique_together': (('sell', 'buy'),), 'indexes': [Index(fields=['state', 'proposed_on'], name='idx_trade_match_state')], 'pk_attr': 'id', 'table_description': "A sell and a buy listing proposed to each other, with each side's answer (yes/no) and the outcome."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TradeOutcome',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('match', fields.ForeignKeyField('models.TradeMatch', source_field='match_id', db_constraint=True, to_field='id', related_name='outcomes', on_delete=OnDelete.CASCADE)),
                ('side', fields.CharField(max_length=4)),
                ('dealt', fields.BooleanField()),
                ('price', fields.FloatField(null=True)),
                ('commodity', fields.CharField(max_length=30)),
                ('unit', fields.CharField(max_length=8)),
                ('township', fields.CharField(default='', db_default='', max_length=50)),
                ('reported_on', fields.DateField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'trade_outcome', 'app': 'models', 'unique_together': (('match', 'side'),), 'indexes': [Index(fields=['commodity', 'reported_on'], name='idx_trade_outcome_series')], 'pk_attr': 'id', 'table_description': 'What one side answered to 成交了吗: a deal at a price, or none. The deals are the 成交价 series.'},
            bases=['Model'],
        ),
    ]

