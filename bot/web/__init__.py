"""The officer console and the JSON API's shared web pieces."""
