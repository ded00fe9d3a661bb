"""Test-wide fixtures."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: cached option lists hold row ids of other tests."""
    cache.clear()
    yield
