"""The join limit counts an IPv6 client per /64, an IPv4 client per address (issue 15, also noted)."""

from __future__ import annotations

import pytest

from webapp.web.clients import limit_key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:a:b:c:d", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::1", "::/64"),
        ("testclient", "testclient"),
        ("unknown", "unknown"),
    ],
)
def test_limit_key(host: str, key: str) -> None:
    assert limit_key(host) == key


def test_addresses_of_one_64_share_a_budget_and_neighbours_do_not() -> None:
    assert limit_key("2001:db8:0:1::a") == limit_key("2001:db8:0:1:dead:beef::1")
    assert limit_key("2001:db8:0:1::a") != limit_key("2001:db8:0:2::a")
