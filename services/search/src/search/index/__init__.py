"""The search index behind one interface (`base.SearchIndex`): Elasticsearch for deployments,
tantivy (an embedded index in a folder) for `make run` and single-replica deployments."""

from __future__ import annotations

from search.index.base import SearchIndex
from search.settings import Settings


def build_index(settings: Settings) -> SearchIndex:
    """No I/O: connections and files are opened by `start()`."""
    if settings.elasticsearch_url is not None:
        from search.index.elasticsearch_index import ElasticsearchIndex

        return ElasticsearchIndex(settings)
    from search.index.tantivy_index import TantivyIndex

    assert settings.search_index_dir is not None  # guaranteed by the settings validator
    return TantivyIndex(settings.search_index_dir, writer_heap_mb=settings.search_index_writer_heap_mb)
