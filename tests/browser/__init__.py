"""Browser tests: the citizen chat page and widget in headless Chromium (see conftest.py)."""
