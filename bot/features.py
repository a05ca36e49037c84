"""The feature packages this service is built from, by module name: the composition root's list.

bot/app.py calls each one's setup(app); bot/db.py registers the tables of those that have any. The
names are plain strings so that nothing in the core imports a feature."""

from __future__ import annotations

FEATURES = (
    "broadcasts",  # first: the outbound API the others send through
    "bot.articles",  # Article is content's (content/models.py); ArticleVersion is its own
    "bot.villagers",  # its table, Subscriber, is the core's (bot/models.py)
    "bot.questions",
    "bot.prices",
    "bot.labour",
    "bot.weather",
    "bot.trade",
    "bot.messagelog",
)
# Feature packages with tables; bot/db.py hands these to Tortoise next to the core ones.
WITHOUT_TABLES = ("bot.villagers",)
MODEL_MODULES = tuple(f"{name}.models" for name in FEATURES if name not in WITHOUT_TABLES)
