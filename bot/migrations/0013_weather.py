from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0012_article_questions')]

    initial = False

    operations: list = []
