"""nongbot: farming advice, prices and work notices for villagers, by SMS and WeChat."""

__version__ = "0.1.0"
