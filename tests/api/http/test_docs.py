"""``/docs`` and ``/redoc`` work with no internet access: every asset a page loads is served
by Baton itself."""

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import Env

BASE = "http://baton.test"  # the test client's


class _Urls(HTMLParser):
    """Every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(value for name, value in attrs if name in ("src", "href") and value)


def _asset_urls(page: str) -> list[str]:
    parser = _Urls()
    parser.feed(page)
    return parser.urls


def _expected_type(path: str) -> str:
    if path.endswith(".js"):
        return "javascript"
    if path.endswith(".css"):
        return "text/css"
    return "image/"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_reference_pages_load_only_from_baton(env: Env, page: str) -> None:
    response = await env.client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "cdn." not in html
    assert "https://" not in html and "http://" not in html
    assert "/openapi.json" in html

    urls = _asset_urls(html)
    assert any(u.endswith(".js") for u in urls), urls
    assert any(u.endswith(".png") for u in urls), "the favicon is served locally too"
    for url in urls:
        absolute = urljoin(BASE + page, url)
        assert urlsplit(absolute).netloc == urlsplit(BASE).netloc, url
        asset = await env.client.get(absolute)
        assert asset.status_code == 200, url
        assert _expected_type(url) in asset.headers["content-type"], url
        assert len(asset.content) > 1000, url


async def test_the_document_the_pages_read_is_served(env: Env) -> None:
    response = await env.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Baton"
