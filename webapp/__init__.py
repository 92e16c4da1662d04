"""session-queue: a fair virtual waiting room on Redis."""
