from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0018_delivery_engine')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ArticleVector',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.OneToOneField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='vector', on_delete=OnDelete.CASCADE)),
                ('stamp', fields.CharField(max_length=40)),
                ('vector', fields.BinaryField()),
            ],
            options={'table': 'article_vector', 'app': 'models', 'pk_attr': 'id', 'table_description': "An article's meaning as the optional meaning model sees it (content/meaning.py), kept so a restart"},
        ),
    ]
