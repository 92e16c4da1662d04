"""Any ``return_to`` sent to an admitted visitor's room page: never a 5xx, never a redirect off the allow-list."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.web import ClientFactory, csrf_of

PREFIX = "/queue"
SHOP = "https://shop.example"
ALLOWED = (SHOP, "http://room.test")  # RETURN_ORIGINS and the room's own origin
PIECES = ["/", "//", "\\", "https://", "http://", "shop.example", "room.test", "@", "evil", "%2F", "%5C", "\t", ":"]
RAW = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=8).map("".join)


def test_an_admitted_visitor_is_only_ever_sent_within_the_allow_list(make_client: ClientFactory) -> None:
    client = make_client(ROOT_PATH=PREFIX, RETURN_ORIGINS=SHOP)
    page = client.get(PREFIX + "/")
    client.post(PREFIX + "/room/join", data={"_csrf_token": csrf_of(page.text)}, headers={"HX-Request": "true"})
    assert client.get(PREFIX + "/checkout").status_code == 200
    assert client.cookies.get("sq_pass") is not None

    @settings(max_examples=300, deadline=None)
    @given(raw=RAW)
    def sent_within(raw: str) -> None:
        response = client.get(f"{PREFIX}/?return_to={quote(raw, safe='')}", follow_redirects=False)
        assert response.status_code == 303, raw
        location = response.headers["location"]
        if location.startswith("/"):
            assert not location.startswith(("//", "/\\")), raw
            assert urlsplit(location).netloc == ""
        else:
            parts = urlsplit(location)
            assert f"{parts.scheme}://{parts.netloc}" in ALLOWED, raw
        assert "\n" not in location
        assert "\t" not in location

    sent_within()
