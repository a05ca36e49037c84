from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0014_trade')]

    initial = False

    operations: list = []
