"""The feature packages this service is built from, by module name: the composition root's list.

bot/app.py calls each one's setup(app); bot/db.py registers the tables of those that have any. The
names are plain strings so that nothing in the core imports a feature."""

from __future__ import annotations

FEATURES = (
    "bot.questions",
    "bot.prices",
    "bot.labour",
)
# Feature packages with tables; bot/db.py hands these to Tortoise next to the core ones.
MODEL_MODULES = tuple(f"{name}.models" for name in FEATURES)
