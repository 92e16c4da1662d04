"""The queue: window arithmetic, Redis state, the leader and the slider."""
