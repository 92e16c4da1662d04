"""HTTP handlers: the JSON API, the pages, the probes."""
