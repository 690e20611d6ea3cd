"""The release workflow's signing identity, and the admission policy and Flux verification that
must accept exactly it.

`.github/workflows/release.yml` runs on its tag trigger and signs keyless by default (Sigstore
certifies the workflow's OIDC identity: issuer https://token.actions.githubusercontent.com,
subject https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/tags/vX.Y.Z), with a key
only when the COSIGN_PRIVATE_KEY secret is set. Kyverno's `subjectRegExp` and Flux's
`matchOIDCIdentity` are searched, not matched whole: a pattern must be anchored, and is tried here
against the subjects it must accept and those it must refuse (another repository, workflow,
branch, a prefix or suffix).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from floe_deploy.gitops.environments import environment_of_path
from floe_deploy.gitops.manifests import Document, GitOpsTree
from floe_deploy.helm.chart import load_values
from floe_deploy.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from floe_deploy.gitops.cluster import Cluster

ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = ".github/workflows/release.yml"
GITHUB_REPOSITORY = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?$")


class ReleaseSigning(BaseModel):
    """How the release workflow signs, as read from it."""

    repository: str
    """owner/repo (setting release_repository, else the repository the tree deploys from)."""
    workflow: str = WORKFLOW
    tag_patterns: list[str]
    """The trigger's tag filters as regular expressions."""
    keyless: bool
    """Signs keyless unless a key is configured."""

    def subject(self, tag: str, workflow: str | None = None, repository: str | None = None) -> str:
        return (
            f"https://github.com/{repository or self.repository}/{workflow or self.workflow}"
            f"@refs/tags/{tag}"
        )

    @property
    def release_tags(self) -> list[str]:
        return [
            t for t in ("v1.2.3", "v10.20.30") if any(re.fullmatch(p, t) for p in self.tag_patterns)
        ]

    @property
    def pattern(self) -> str:
        """The anchored subject pattern an admission rule accepting every release tag uses."""
        return f"^{_dots(f'https://github.com/{self.repository}/{self.workflow}')}@refs/tags/v[0-9]+\\.[0-9]+\\.[0-9]+$"

    def foreign_subjects(self) -> dict[str, str]:
        """Subjects a rule must refuse, by what differs."""
        tag = (self.release_tags or ["v1.2.3"])[0]
        owner, _, name = self.repository.partition("/")
        good = self.subject(tag)
        return {
            "another owner": self.subject(tag, repository=f"{owner}-attacker/{name}"),
            "another repository": self.subject(tag, repository=f"{owner}/{name}-fork"),
            "another workflow": self.subject(tag, workflow=".github/workflows/build.yml"),
            "a branch": good.replace(f"@refs/tags/{tag}", "@refs/heads/main"),
            "a prefix": "https://evil.example/" + good,
            "a suffix": good + "/evil",
        } | (
            {}
            if any(re.fullmatch(p, "nightly") for p in self.tag_patterns)
            else {"a tag the trigger does not run for": good.replace(tag, "nightly")}
        )


def _dots(text: str) -> str:
    """A URL as a regular expression matching only itself (its dots escaped)."""
    return text.replace(".", "\\.")


def _trigger_tags(workflow: dict[Any, Any]) -> list[str]:
    triggers = workflow.get("on") or workflow.get(True) or {}
    tags = ((triggers.get("push") or {}) if isinstance(triggers, dict) else {}).get("tags") or []
    return [_glob_regex(str(t)) for t in tags]


def _glob_regex(glob: str) -> str:
    """GitHub's filter pattern (`*`, `**`, `?`, `+`, `[…]`) as a regular expression."""
    out, position = "", 0
    while position < len(glob):
        char = glob[position]
        if glob.startswith("**", position):
            out, position = out + ".*", position + 2
            continue
        if char == "[":
            end = glob.index("]", position)
            out, position = out + glob[position : end + 1], end + 1
            continue
        out += {"*": "[^/]*", "?": "?", "+": "+"}.get(char, re.escape(char))
        position += 1
    return out


def _signs_keyless(job: dict[str, Any], workflow: dict[str, Any]) -> bool:
    """The job may ask for an OIDC token and runs `--keyless` (the default without a key)."""
    permissions = job.get("permissions", workflow.get("permissions")) or {}
    token = isinstance(permissions, dict) and permissions.get("id-token") == "write"
    return token and any(
        "--keyless" in str(step.get("run") or "") for step in job.get("steps") or []
    )


def read_release_signing(tree: GitOpsTree, repository: str | None) -> ReleaseSigning | None:
    """The release workflow beside the tree (else this project's); None when there is none."""
    path = next(
        (p for p in (tree.repo_root / WORKFLOW, PROJECT_ROOT / WORKFLOW) if p.is_file()), None
    )
    if path is None:
        return None
    workflow = load_values(path)
    keyless = any(_signs_keyless(job, workflow) for job in (workflow.get("jobs") or {}).values())
    if repository is None:
        found = sorted(
            match.group(1)
            for d in tree.of_kind("GitRepository")
            if (match := GITHUB_REPOSITORY.match(str((d.body.get("spec") or {}).get("url"))))
        )
        repository = found[0] if found else "OWNER/REPO"
    return ReleaseSigning(
        repository=repository, tag_patterns=_trigger_tags(workflow), keyless=keyless
    )


def _pattern_problems(
    pattern: str, signing: ReleaseSigning, what: str, *, regexp: bool
) -> list[str]:
    """A subject (exact or wildcard) or subject regexp against the subjects it must accept and
    refuse; regexps are searched, as Kyverno and Flux do."""
    try:
        compiled = re.compile(pattern if regexp else re.escape(pattern).replace(r"\*", ".*"))
    except re.error as error:
        return [f"{what} {pattern!r} is no regular expression ({error})"]

    def accepts(subject: str) -> bool:
        return bool(compiled.search(subject) if regexp else compiled.fullmatch(subject))

    exact = not regexp and "*" not in pattern
    wanted = [signing.subject(t) for t in signing.release_tags]
    fix = (f"use {signing.pattern!r}" if regexp or not exact
           else f"use {signing.subject('vX.Y.Z')} for one release tag")  # fmt: skip
    if exact:
        if pattern in wanted or any(
            re.fullmatch(
                re.escape(signing.subject("TAG")).replace("TAG", f"(?:{p})"), pattern
            ) for p in signing.tag_patterns
        ):  # fmt: skip
            return []
        return [
            f"{what} {pattern} is not the release workflow's identity ({signing.subject('vX.Y.Z')}): {fix}"
        ]
    refused = [subject for subject in wanted if not accepts(subject)]
    if refused:
        return [f"{what} {pattern!r} refuses the release workflow's identity {refused[0]}: {fix}"]
    admitted = [why for why, subject in signing.foreign_subjects().items() if accepts(subject)]
    if admitted:
        anchored = regexp and not (pattern.startswith("^") and pattern.endswith("$"))
        return [
            f"{what} {pattern!r} {'is not anchored and ' if anchored else ''}also accepts "
            f"{', '.join(admitted)}: {fix}"
        ]
    return []


def _issuer_problems(issuer: str, what: str, *, regexp: bool) -> list[str]:
    try:
        compiled = re.compile(issuer if regexp else re.escape(issuer) + "$")
    except re.error as error:
        return [f"{what} {issuer!r} is no regular expression ({error})"]

    def accepts(candidate: str) -> bool:
        return bool(compiled.search(candidate) if regexp else compiled.match(candidate))

    foreign = (
        "https://token.actions.githubusercontent.com.evil.example",
        "https://evil.example/" + ISSUER,
    )
    if accepts(ISSUER) and not any(accepts(f) for f in foreign):
        return []
    wanted = f"^{_dots(ISSUER)}$" if regexp else ISSUER
    return [f"{what} {issuer!r} is not exactly the GitHub Actions issuer: use {wanted!r}"]


def _mode_problem(signing: ReleaseSigning, keyless: bool, keyed: bool, where: str) -> list[str]:
    if signing.keyless and not keyless:
        return [
            f"{where} verifies only a public key, but {signing.workflow} signs keyless by default: "
            f"the default release is refused; add a keyless identity (issuer {ISSUER}, subject "
            f"{signing.pattern})"
        ]
    if not signing.keyless and not keyed:
        return [
            f"{where} verifies only keyless signatures, but {signing.workflow} signs with a key: add the public key"
        ]
    return []


def check_policy(document: Document, cluster: Cluster) -> list[str]:
    """Every enforced verifyImages rule accepts the release workflow's signatures, and only them."""
    signing = cluster.release_signing
    if signing is None:
        return []
    errors = []
    for rule in (document.body.get("spec") or {}).get("rules") or []:
        for verify in rule.get("verifyImages") or []:
            entries = [e for a in verify.get("attestors") or [] for e in a.get("entries") or []]
            keyless = [e["keyless"] for e in entries if e.get("keyless")]
            keyed = [e for e in entries if e.get("keys")]
            where = f"rule {rule.get('name')}"
            errors += _mode_problem(signing, bool(keyless), bool(keyed), where)
            for entry in keyless:
                errors += _entry_problems(entry, signing, where)
    return errors


def _entry_problems(entry: dict[str, Any], signing: ReleaseSigning, where: str) -> list[str]:
    errors = []
    if entry.get("issuer"):
        errors += _issuer_problems(str(entry["issuer"]), f"{where}: issuer", regexp=False)
    elif entry.get("issuerRegExp"):
        errors += _issuer_problems(
            str(entry["issuerRegExp"]), f"{where}: issuerRegExp", regexp=True
        )
    else:
        errors.append(
            f"{where}: a keyless attestor without issuer accepts any OIDC issuer: set issuer: {ISSUER}"
        )
    if entry.get("subject"):
        errors += _pattern_problems(
            str(entry["subject"]), signing, f"{where}: subject", regexp=False
        )
    elif entry.get("subjectRegExp"):
        errors += _pattern_problems(
            str(entry["subjectRegExp"]), signing, f"{where}: subjectRegExp", regexp=True
        )
    else:
        errors.append(
            f"{where}: a keyless attestor without subject accepts any signer: set subjectRegExp: {signing.pattern}"
        )
    return errors


def check_oci_verify(document: Document, cluster: Cluster) -> list[str]:
    """Flux's cosign verification of the chart accepts the release workflow's signatures."""
    signing = cluster.release_signing
    verify = (document.body.get("spec") or {}).get("verify") or {}
    if signing is None or verify.get("provider") != "cosign":
        return []
    identities = verify.get("matchOIDCIdentity") or []
    environment = environment_of_path(document.file)
    where = f"verify ({environment})" if environment else "verify"
    errors = _mode_problem(signing, bool(identities), bool(verify.get("secretRef")), where)
    for identity in identities:
        errors += _issuer_problems(str(identity.get("issuer")), f"{where}: issuer", regexp=True)
        errors += _pattern_problems(
            str(identity.get("subject")), signing, f"{where}: subject", regexp=True
        )
    return errors
