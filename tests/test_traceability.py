"""The requirement-traceability plugin, exercised through real inner pytest runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from floe_deploy.testing.traceability import load_requirements

pytestmark = pytest.mark.requirement("007-FR-042")

PLUGIN = ["-p", "floe_deploy.testing.traceability"]


def test_requirements_table_is_complete_and_unique() -> None:
    requirements = load_requirements()
    assert len(requirements) >= 40
    assert list(requirements) == sorted(requirements)
    assert "007-FR-029" in requirements


def test_unknown_requirement_fails_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        'import pytest\n\n@pytest.mark.requirement("007-FR-999")\ndef test_x():\n    pass\n'
    )
    result = pytester.runpytest(*PLUGIN, f"--traceability-dir={pytester.path / 'r'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown requirement IDs*007-FR-999*"])


def test_table_json_and_junit_report_outcomes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n\n"
        '@pytest.mark.requirement("007-FR-001")\ndef test_ok():\n    pass\n\n'
        '@pytest.mark.requirement("007-FR-002")\ndef test_bad():\n    assert False\n'
    )
    reports = pytester.path / "reports"
    result = pytester.runpytest(
        *PLUGIN, f"--traceability-dir={reports}", "--traceability-name=inner"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*requirement traceability*",
            "007-FR-001*passed*1*0*test_ok",
            "007-FR-002*failed*0*1*test_bad",
        ]
    )
    rows = {
        row["requirement"]: row
        for row in json.loads((reports / "traceability-inner.json").read_text())["requirements"]
    }
    assert rows["007-FR-001"]["status"] == "passed"
    assert rows["007-FR-002"]["status"] == "failed"
    assert rows["007-FR-003"]["status"] == "uncovered"
    suite = ET.parse(reports / "traceability-inner.xml").getroot()
    assert suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["007-FR-002"].find("failure") is not None
    assert cases["007-FR-003"].find("skipped") is not None


def test_strict_mode_fails_while_requirements_are_uncovered(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        'import pytest\n\n@pytest.mark.requirement("007-FR-001")\ndef test_ok():\n    pass\n'
    )
    result = pytester.runpytest(*PLUGIN, f"--traceability-dir={tmp_path}", "--traceability-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*requirements without any test: 007-FR-002*"])
