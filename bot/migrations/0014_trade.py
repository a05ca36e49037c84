from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [('models', '0013_weather')]

    initial = False

    operations: list = []
