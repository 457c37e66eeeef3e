"""Knowledge retrieval: query formulation and the local (offline) retriever.

``from opsloop.retrieval import LocalRetriever, build_query`` is the usual entry point; the index module is
imported lazily so that code needing only :func:`build_query` stays light.
"""

from __future__ import annotations

from typing import Any

from .query import Query, build_query

__all__ = ["LocalRetriever", "Query", "RankingConfig", "build_query", "search_cli"]


def __getattr__(name: str) -> Any:
    if name in ("LocalRetriever", "RankingConfig", "search_cli"):
        from . import index

        return getattr(index, name)
    raise AttributeError(name)
