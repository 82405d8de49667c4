"""Helpers shared by the test suite (databases, a running gateway, the corpus)."""
