"""Confluence: incident pages in storage format, published through atlassian-python-api (REST v1).

Importing this package does not import atlassian or requests; :func:`make_client` does, when called.
"""

from .storage import fingerprint_label, page_title, render_report, report_labels
from .wiki import ConfluenceWiki, make_client

__all__ = ["ConfluenceWiki", "fingerprint_label", "make_client", "page_title", "render_report", "report_labels"]
