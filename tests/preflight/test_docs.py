"""The preflight reference in docs/06 is generated from the code, and must match it."""

from __future__ import annotations

import pytest

from floe_deploy.paths import PROJECT_ROOT
from floe_preflight.docs import BEGIN, END, reference
from floe_preflight.failures import Kind, docs_anchor

pytestmark = pytest.mark.requirement("007-FR-035", evidence="real")


def test_docs_section_matches_the_code() -> None:
    text = (PROJECT_ROOT / "docs" / "06-deployment-view.md").read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == reference(), "regenerate: uv run python -m floe_preflight.docs"


def test_every_failure_kind_has_its_docs_anchor() -> None:
    """The `docs` field of a failure points at an anchor that exists."""
    text = (PROJECT_ROOT / "docs" / "06-deployment-view.md").read_text()
    missing = [
        kind.value for kind in Kind if f'<a id="{docs_anchor(kind).split("#")[1]}">' not in text
    ]
    assert not missing
