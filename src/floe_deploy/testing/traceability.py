"""pytest plugin: requirement IDs on tests, checked at collection and reported after the run.

`@pytest.mark.requirement("007-FR-0NN")` names a requirement of docs/requirements.md; an unknown
ID fails collection. After the run, a table requirement → tests → outcome is printed and written
to build/reports/traceability-<suite>.json and .xml (JUnit). `--traceability-strict` also fails
the run while any requirement has no test at all (what `nox -s traceability` runs).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT

REQUIREMENTS_FILE = PROJECT_ROOT / "docs" / "requirements.md"
REPORTS_DIR = BUILD_DIR / "reports"
ROW = re.compile(r"^\|\s*(007-FR-\d{3})\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*$")
OUTCOME_ORDER = {"failed": 0, "error": 0, "skipped": 1, "passed": 2}


def load_requirements(path: Path = REQUIREMENTS_FILE) -> dict[str, str]:
    """ID → text, from the table in docs/requirements.md."""
    requirements = {}
    for line in path.read_text().splitlines():
        if match := ROW.match(line):
            requirements[match[1]] = f"{match[2]}: {match[3]}"
    return requirements


class Traceability:
    """Collects which tests prove which requirement, and how each test ended."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.requirements = load_requirements()
        self.tests_by_requirement: dict[str, list[str]] = defaultdict(list)
        self.outcomes: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        unknown = []
        for item in items:
            for marker in item.iter_markers("requirement"):
                for requirement in marker.args:
                    if requirement not in self.requirements:
                        unknown.append(f"{item.nodeid}: {requirement}")
                    else:
                        self.tests_by_requirement[requirement].append(item.nodeid)
        if unknown:
            raise pytest.UsageError(
                "unknown requirement IDs (not in docs/requirements.md): " + "; ".join(unknown)
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        previous = self.outcomes.get(report.nodeid)
        if previous is None or OUTCOME_ORDER[outcome] < OUTCOME_ORDER[previous]:
            self.outcomes[report.nodeid] = outcome

    def rows(self) -> list[dict[str, object]]:
        rows = []
        for requirement, text in self.requirements.items():
            tests = self.tests_by_requirement.get(requirement, [])
            outcomes = [self.outcomes.get(test, "not run") for test in tests]
            passed = outcomes.count("passed")
            failed = sum(outcome in {"failed", "error"} for outcome in outcomes)
            if not tests:
                status = "uncovered"
            elif failed:
                status = "failed"
            elif passed:
                status = "passed"
            else:
                status = "not run"
            rows.append(
                {
                    "requirement": requirement,
                    "text": text,
                    "tests": [
                        {"test": t, "outcome": o} for t, o in zip(tests, outcomes, strict=True)
                    ],
                    "passed": passed,
                    "failed": failed,
                    "status": status,
                }
            )
        return rows

    def suite(self) -> str:
        name: str = self.config.getoption("traceability_name") or ""
        if name:
            return name
        paths = [Path(str(arg)).parts[0] for arg in self.config.args if arg] or ["all"]
        return "-".join(sorted(set(paths))).replace("/", "-") or "all"

    def write(self, rows: list[dict[str, object]]) -> tuple[Path, Path]:
        reports = Path(self.config.getoption("traceability_dir"))
        reports.mkdir(parents=True, exist_ok=True)
        suite = self.suite()
        json_path = reports / f"traceability-{suite}.json"
        json_path.write_text(json.dumps({"suite": suite, "requirements": rows}, indent=2) + "\n")
        testsuite = ET.Element(
            "testsuite",
            name=f"traceability-{suite}",
            tests=str(len(rows)),
            failures=str(sum(row["status"] == "failed" for row in rows)),
            skipped=str(sum(row["status"] in {"uncovered", "not run"} for row in rows)),
        )
        for row in rows:
            case = ET.SubElement(
                testsuite, "testcase", classname="requirements", name=str(row["requirement"])
            )
            tests = row["tests"]
            assert isinstance(tests, list)
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{t['test']}: {t['outcome']}" for t in tests
            )
            if row["status"] == "failed":
                ET.SubElement(case, "failure", message=f"{row['failed']} test(s) failed")
            elif row["status"] in {"uncovered", "not run"}:
                ET.SubElement(case, "skipped", message=str(row["status"]))
        xml_path = reports / f"traceability-{suite}.xml"
        ET.ElementTree(testsuite).write(xml_path, encoding="unicode", xml_declaration=True)
        return json_path, xml_path

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        rows = self.rows()
        covered = [row for row in rows if row["status"] != "uncovered"]
        uncovered = [str(row["requirement"]) for row in rows if row["status"] == "uncovered"]
        terminalreporter.section("requirement traceability")
        width = max((len(str(row["requirement"])) for row in rows), default=10)
        terminalreporter.write_line(
            f"{'requirement':<{width}}  {'status':<9}  passed  failed  tests"
        )
        for row in covered:
            tests = row["tests"]
            assert isinstance(tests, list)
            names = ", ".join(
                dict.fromkeys(str(t["test"]).rsplit("::", 1)[-1].split("[")[0] for t in tests)
            )
            terminalreporter.write_line(
                f"{row['requirement']!s:<{width}}  {row['status']!s:<9}  {row['passed']!s:>6}  "
                f"{row['failed']!s:>6}  {names}"
            )
        terminalreporter.write_line(
            f"{len(covered)} of {len(rows)} requirements have tests in this run; "
            f"not covered here: {', '.join(uncovered) or 'none'}"
        )
        json_path, xml_path = self.write(rows)
        terminalreporter.write_line(f"traceability written to {json_path} and {xml_path}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.config.getoption("traceability_strict"):
            uncovered = [r for r in self.requirements if not self.tests_by_requirement.get(r)]
            if uncovered:
                print(f"\nERROR: requirements without any test: {', '.join(uncovered)}")
                session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("traceability")
    group.addoption("--traceability-name", default="", help="suite name in the report file names")
    group.addoption("--traceability-dir", default=str(REPORTS_DIR), help="where the reports go")
    group.addoption(
        "--traceability-strict",
        action="store_true",
        help="fail while any requirement in docs/requirements.md has no test",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(id): the requirement (docs/requirements.md) a test proves"
    )
    config.pluginmanager.register(Traceability(config), "floe-traceability")
