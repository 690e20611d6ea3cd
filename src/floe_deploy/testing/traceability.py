"""pytest plugin: requirement IDs on tests, with the evidence each test gives, checked at
collection and reported after the run.

`@pytest.mark.requirement("007-FR-0NN", evidence="real")` names a requirement of
docs/requirements.md and what the test ran: `real` (the real thing: engine, registry, Postgres,
Dagster, Helm SDK, our own code), `stand-in` (a protocol stand-in or a schema in place of a server
that cannot run here) or `plumbing` (a fixture that only proves the wiring). An unknown ID or a
missing or unknown evidence level fails collection. After the run, a table requirement → evidence
→ tests → outcome is printed and written to build/reports/traceability-<suite>.json and .xml
(JUnit). A requirement passes only when every one of its tests ran and passed. The requirements
table says where the real thing runs here; `--traceability-strict` (what `nox -s traceability`
runs) fails while a requirement has no test, or has only stand-in or plumbing evidence although
the real thing runs here. Works under pytest-xdist: markers travel in each report's user
properties.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest
from pydantic import BaseModel

from floe_deploy.paths import BUILD_DIR, PROJECT_ROOT

REQUIREMENTS_FILE = PROJECT_ROOT / "docs" / "requirements.md"
REPORTS_DIR = BUILD_DIR / "reports"
ROW = re.compile(
    r"^\|\s*(007-FR-\d{3})\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*(yes|no: [^|]+?)\s*\|\s*$"
)
EVIDENCE = ("real", "stand-in", "plumbing")
"""Evidence levels, strongest first."""
PROPERTY = "requirement"
OUTCOME_ORDER = {"failed": 0, "error": 0, "skipped": 1, "passed": 2}


class Requirement(BaseModel):
    id: str
    text: str
    real_here: bool
    why_not_real: str = ""


def load_requirements(path: Path = REQUIREMENTS_FILE) -> dict[str, Requirement]:
    """ID → requirement, from the table in docs/requirements.md; a repeated ID is an error."""
    requirements: dict[str, Requirement] = {}
    for line in path.read_text().splitlines():
        if match := ROW.match(line):
            if match[1] in requirements:
                raise ValueError(f"{path.name}: requirement {match[1]} appears twice")
            requirements[match[1]] = Requirement(
                id=match[1],
                text=f"{match[2]}: {match[3]}",
                real_here=match[4] == "yes",
                why_not_real=match[4].removeprefix("no: "),
            )
    return requirements


def marker_claims(item: pytest.Item) -> tuple[list[tuple[str, str]], list[str]]:
    """(requirement, evidence) pairs of the item's markers, and what is wrong with them."""
    claims, problems = [], []
    for marker in item.iter_markers("requirement"):
        evidence = marker.kwargs.get("evidence")
        if evidence not in EVIDENCE:
            problems.append(
                f"{item.nodeid}: evidence={evidence!r} (say evidence= one of {', '.join(EVIDENCE)})"
            )
            continue
        claims += [(str(requirement), str(evidence)) for requirement in marker.args]
    return claims, problems


class Traceability:
    """Collects which tests prove which requirement with what evidence, and how each test ended."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        try:
            self.requirements = load_requirements()
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
        self.claims: dict[str, dict[str, str]] = defaultdict(dict)
        """requirement → test node id → evidence"""
        self.outcomes: dict[str, str] = {}

    def _claim(self, nodeid: str, requirement: str, evidence: str) -> None:
        self.claims[requirement][nodeid] = evidence

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        problems = []
        for item in items:
            claims, wrong = marker_claims(item)
            problems += wrong
            for requirement, evidence in claims:
                if requirement not in self.requirements:
                    problems.append(f"{item.nodeid}: unknown requirement ID {requirement}")
                    continue
                self._claim(item.nodeid, requirement, evidence)
                item.user_properties.append((PROPERTY, f"{requirement} {evidence}"))
        if problems:
            raise pytest.UsageError(
                "requirement markers (docs/requirements.md): " + "; ".join(problems)
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                requirement, evidence = str(value).split(" ", 1)
                self._claim(report.nodeid, requirement, evidence)
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        previous = self.outcomes.get(report.nodeid)
        if previous is None or OUTCOME_ORDER[outcome] < OUTCOME_ORDER[previous]:
            self.outcomes[report.nodeid] = outcome

    def insufficient(self) -> list[str]:
        """Requirements whose real thing runs here but whose tests claim only weaker evidence."""
        return [
            f"{requirement.id} ({', '.join(sorted(set(claims.values())))})"
            for requirement in self.requirements.values()
            if requirement.real_here
            and (claims := self.claims.get(requirement.id))
            and "real" not in claims.values()
        ]

    def rows(self) -> list[dict[str, object]]:
        rows = []
        for requirement in self.requirements.values():
            claims = self.claims.get(requirement.id, {})
            outcomes = {test: self.outcomes.get(test, "not run") for test in claims}
            passed = sum(o == "passed" for o in outcomes.values())
            failed = sum(o in {"failed", "error"} for o in outcomes.values())
            proven = [claims[t] for t, o in outcomes.items() if o == "passed"]
            evidence = min(proven, key=EVIDENCE.index) if proven else "none"
            if not claims:
                status = "uncovered"
            elif failed:
                status = "failed"
            elif passed == len(claims):
                status = "passed"
            elif passed:
                status = "partial"
            else:
                status = "not run"
            rows.append(
                {
                    "requirement": requirement.id,
                    "text": requirement.text,
                    "real_here": requirement.real_here,
                    "why_not_real": requirement.why_not_real,
                    "evidence": evidence,
                    "tests": [
                        {"test": t, "outcome": o, "evidence": claims[t]}
                        for t, o in outcomes.items()
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
            skipped=str(sum(row["status"] in {"uncovered", "not run", "partial"} for row in rows)),
        )
        for row in rows:
            case = ET.SubElement(
                testsuite, "testcase", classname="requirements", name=str(row["requirement"])
            )
            case.set("evidence", str(row["evidence"]))
            tests = row["tests"]
            assert isinstance(tests, list)
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{t['test']}: {t['outcome']} ({t['evidence']})" for t in tests
            )
            if row["status"] == "failed":
                ET.SubElement(case, "failure", message=f"{row['failed']} test(s) failed")
            elif row["status"] in {"uncovered", "not run", "partial"}:
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
            f"{'requirement':<{width}}  {'status':<9}  {'evidence':<8}  passed  failed  tests"
        )
        for row in covered:
            tests = row["tests"]
            assert isinstance(tests, list)
            names = ", ".join(
                dict.fromkeys(str(t["test"]).rsplit("::", 1)[-1].split("[")[0] for t in tests)
            )
            terminalreporter.write_line(
                f"{row['requirement']!s:<{width}}  {row['status']!s:<9}  {row['evidence']!s:<8}  "
                f"{row['passed']!s:>6}  {row['failed']!s:>6}  {names}"
            )
        terminalreporter.write_line(
            f"{len(covered)} of {len(rows)} requirements have tests in this run; "
            f"not covered here: {', '.join(uncovered) or 'none'}"
        )
        json_path, xml_path = self.write(rows)
        terminalreporter.write_line(f"traceability written to {json_path} and {xml_path}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.config.getoption("traceability_strict"):
            return
        uncovered = [r for r in self.requirements if not self.claims.get(r)]
        if uncovered:
            print(f"\nERROR: requirements without any test: {', '.join(uncovered)}")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if weak := self.insufficient():
            print(
                "\nERROR: the real thing runs here, but these requirements have only weaker "
                f"evidence: {', '.join(weak)}"
            )
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
        "markers",
        "requirement(id, ..., evidence=real|stand-in|plumbing): the requirements "
        "(docs/requirements.md) a test proves, and against what",
    )
    config.pluginmanager.register(Traceability(config), "floe-traceability")
