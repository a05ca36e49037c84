"""The supply-and-demand feature's tables."""
