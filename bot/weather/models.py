"""The weather feature's tables."""
