"""The demo sale site: a separate application protected by the origin gate (``python -m webapp.shop``)."""
