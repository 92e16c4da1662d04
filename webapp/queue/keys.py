"""The only place Redis key names are built.

Every key of one queue shares the hash tag ``{sq:<queue>}``, so on Redis Cluster they live in one
slot and each Lua script touches a single slot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueKeys:
    """Names of the keys that hold one queue's state."""

    tag: str
    counter: str
    window: str
    leader: str
    controls: str
    events: str
    minutes: str
    replicas: str
    draw: str

    def claim(self, ticket_id: str) -> str:
        """The one-time admission marker of a ticket."""
        return f"{self.tag}:claim:{ticket_id}"

    def order(self, pass_id: str) -> str:
        """The one order an access pass may place (the demo sale's double-submit guard)."""
        return f"{self.tag}:order:{pass_id}"

    def admin_failures(self, client: str) -> str:
        """Failed console logins and bad admin tokens from one client address (the lockout counter)."""
        return f"{self.tag}:admin-fail:{client}"

    @property
    def rate_prefix(self) -> str:
        """Prefix of the join limit's per-client logs (``join_log``)."""
        return f"{self.tag}:rate"

    def join_log(self, client: str) -> str:
        """The places one client address took in the last minute (the join limit's sliding log)."""
        return f"{self.rate_prefix}:{client}"


def queue_keys(queue: str) -> QueueKeys:
    tag = f"{{sq:{queue}}}"
    return QueueKeys(
        tag=tag,
        counter=f"{tag}:counter",
        window=f"{tag}:window",
        leader=f"{tag}:leader",
        controls=f"{tag}:controls",
        events=f"{tag}:events",
        minutes=f"{tag}:minutes",
        replicas=f"{tag}:replicas",
        draw=f"{tag}:draw",
    )
