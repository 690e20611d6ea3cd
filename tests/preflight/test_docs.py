"""The preflight reference in docs/06 is generated from the code, and must match it."""

from __future__ import annotations

import pytest

from floe_deploy.paths import PROJECT_ROOT
from floe_preflight.docs import BEGIN, END, reference

pytestmark = pytest.mark.requirement("007-FR-035")


def test_docs_section_matches_the_code() -> None:
    text = (PROJECT_ROOT / "docs" / "06-deployment-view.md").read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == reference(), "regenerate: uv run python -m floe_preflight.docs"
