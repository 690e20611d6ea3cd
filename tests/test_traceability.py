"""The requirement-traceability plugin, exercised through real inner pytest runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from floe_deploy.testing.traceability import load_requirements

pytestmark = pytest.mark.requirement("007-FR-042", evidence="real")

PLUGIN = ["-p", "floe_deploy.testing.traceability"]


def inner_run(pytester: pytest.Pytester, source: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run `source` as an inner session; its result and its traceability rows by requirement."""
    pytester.makepyfile(source)
    reports = pytester.path / "reports"
    result = pytester.runpytest(
        *PLUGIN, f"--traceability-dir={reports}", "--traceability-name=inner"
    )
    written = json.loads((reports / "traceability-inner.json").read_text())["requirements"]
    return result, {row["requirement"]: row for row in written}


def test_requirements_table_is_complete_and_unique() -> None:
    requirements = load_requirements()
    assert len(requirements) >= 40
    assert list(requirements) == sorted(requirements)
    assert "007-FR-029" in requirements
    assert requirements["007-FR-003"].real_here
    assert not requirements["007-FR-037"].real_here
    assert "Trino" in requirements["007-FR-037"].why_not_real


def test_a_repeated_requirement_id_is_an_error(tmp_path: Path) -> None:
    row = "| 007-FR-001 | foundation | One settings object. | yes |\n"
    (tmp_path / "requirements.md").write_text(row + row)
    with pytest.raises(ValueError, match="007-FR-001 appears twice"):
        load_requirements(tmp_path / "requirements.md")


def test_a_marker_without_evidence_fails_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        'import pytest\n\n@pytest.mark.requirement("007-FR-001")\ndef test_x():\n    pass\n'
    )
    result = pytester.runpytest(*PLUGIN, f"--traceability-dir={pytester.path / 'r'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*test_x: evidence=None (say evidence= one of real, stand-in, plumbing)*"]
    )


def test_skipped_beside_passed_is_partial_and_the_strongest_passed_evidence_shows(
    pytester: pytest.Pytester,
) -> None:
    result, rows = inner_run(
        pytester,
        "import pytest\n\n"
        '@pytest.mark.requirement("007-FR-001", evidence="stand-in")\ndef test_fake():\n    pass\n\n'
        '@pytest.mark.requirement("007-FR-001", evidence="real")\ndef test_real():\n    pytest.skip("no engine")\n\n'
        '@pytest.mark.requirement("007-FR-002", evidence="plumbing")\ndef test_wiring():\n    pass\n\n'
        '@pytest.mark.requirement("007-FR-002", evidence="real")\ndef test_real_two():\n    pass\n',
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["007-FR-001*partial*stand-in*1*0*", "007-FR-002*passed*real*2*0*"])
    assert rows["007-FR-001"]["status"] == "partial"
    assert rows["007-FR-001"]["evidence"] == "stand-in"
    assert rows["007-FR-002"]["evidence"] == "real"


def test_strict_mode_fails_where_only_stand_in_evidence_exists_but_the_real_thing_runs_here(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    tests = "import pytest\n\n" + "".join(
        f'@pytest.mark.requirement("{r}", evidence="{"stand-in" if r in {"007-FR-003", "007-FR-037"} else "real"}")\n'
        f"def test_{r[-3:]}():\n    pass\n\n"
        for r in load_requirements()
    )
    pytester.makepyfile(tests)
    result = pytester.runpytest(
        *PLUGIN, f"--traceability-dir={tmp_path}", "--traceability-strict", "--collect-only"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*only weaker evidence: 007-FR-003 (stand-in)"])
    (line,) = [line for line in result.stdout.lines if "weaker evidence" in line]
    assert "007-FR-037" not in line


def test_unknown_requirement_fails_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        'import pytest\n\n@pytest.mark.requirement("007-FR-999", evidence="real")\ndef test_x():\n    pass\n'
    )
    result = pytester.runpytest(*PLUGIN, f"--traceability-dir={pytester.path / 'r'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown requirement ID 007-FR-999*"])


def test_table_json_and_junit_report_outcomes(pytester: pytest.Pytester) -> None:
    result, rows = inner_run(
        pytester,
        "import pytest\n\n"
        '@pytest.mark.requirement("007-FR-001", evidence="real")\ndef test_ok():\n    pass\n\n'
        '@pytest.mark.requirement("007-FR-002", evidence="real")\ndef test_bad():\n    assert False\n',
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*requirement traceability*",
            "007-FR-001*passed*1*0*test_ok",
            "007-FR-002*failed*0*1*test_bad",
        ]
    )
    assert rows["007-FR-001"]["status"] == "passed"
    assert rows["007-FR-002"]["status"] == "failed"
    assert rows["007-FR-003"]["status"] == "uncovered"
    suite = ET.parse(pytester.path / "reports" / "traceability-inner.xml").getroot()
    assert suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["007-FR-002"].find("failure") is not None
    assert cases["007-FR-003"].find("skipped") is not None


def test_strict_mode_fails_while_requirements_are_uncovered(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        'import pytest\n\n@pytest.mark.requirement("007-FR-001", evidence="real")\ndef test_ok():\n    pass\n'
    )
    result = pytester.runpytest(*PLUGIN, f"--traceability-dir={tmp_path}", "--traceability-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*requirements without any test: 007-FR-002*"])
