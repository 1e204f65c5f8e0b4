import pytest


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path, monkeypatch):
    """Unit tests never write the user's ~/.cache (installer hash memos included)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
