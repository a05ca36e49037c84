from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0015_console')]

    initial = False

    operations: list = []
