"""Headless Chromium (Debian's package, installed by scripts/bootstrap) for tests of web pages:
the DOM after the page's scripts ran, and a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from pydantic import BaseModel

VIRTUAL_TIME_MS = 15000
"""Chromium's virtual clock: the page's scripts and fetches get this long, without waiting it."""


class Element(BaseModel):
    tag: str
    attributes: dict[str, str]
    text: str = ""


class _Collector(HTMLParser):
    """Elements with an id or data-* attribute, and the text directly inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        keep = "id" in attributes or any(name.startswith("data-") for name in attributes)
        element = Element(tag=tag, attributes=attributes) if keep else None
        if element is not None:
            self.elements.append(element)
        if tag not in {"meta", "link", "br", "img", "input"}:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] is not None:
            self._open[-1].text += data


class RenderedPage(BaseModel):
    html: str
    elements: list[Element]

    def by_id(self, element_id: str) -> Element:
        return next(e for e in self.elements if e.attributes.get("id") == element_id)

    def with_attribute(self, name: str) -> list[Element]:
        return [e for e in self.elements if name in e.attributes]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError("chromium is not installed: run scripts/bootstrap")
    return found


def _headless(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", f"--virtual-time-budget={VIRTUAL_TIME_MS}", *arguments],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip


def render(url: str) -> RenderedPage:
    """The page's DOM once its scripts ran (and their fetches answered)."""
    html = _headless("--dump-dom", url).stdout
    collector = _Collector()
    collector.feed(html)
    return RenderedPage(html=html, elements=collector.elements)


def screenshot(url: str, path: Path, width: int = 1280, height: int = 1100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _headless(f"--screenshot={path}", f"--window-size={width},{height}", "--hide-scrollbars", url)
    return path
