from functools import partial

import pytest

from microblog_common.testing import BACKENDS, check_service_plumbing, database_url
from search.app import create_app
from search.settings import Settings


@pytest.mark.parametrize("backend", BACKENDS)
def test_service_plumbing(request, tmp_path, backend):
    settings = partial(Settings, search_index_dir=tmp_path / "index")
    check_service_plumbing(create_app, settings, database_url(request, tmp_path, backend, "search"))


def test_settings_need_an_index(monkeypatch):
    monkeypatch.delenv("SEARCH_INDEX_DIR", raising=False)
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    with pytest.raises(ValueError, match=r"ELASTICSEARCH_URL .* or SEARCH_INDEX_DIR"):
        Settings(database_url="sqlite://", event_bus="memory", environment="development")
    with pytest.raises(ValueError, match="go together"):
        Settings(
            database_url="sqlite://",
            event_bus="memory",
            environment="development",
            elasticsearch_url="http://127.0.0.1:9200",
            elasticsearch_username="elastic",
        )
