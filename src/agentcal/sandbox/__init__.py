"""Stateful emulations of the providers' APIs, for trying and testing with no account."""
