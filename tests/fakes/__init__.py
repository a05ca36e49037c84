"""Local fakes of the providers, as real HTTP servers that speak their wire protocols."""
