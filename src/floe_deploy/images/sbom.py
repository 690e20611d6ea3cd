"""CycloneDX SBOMs of built images: Debian packages, Python distributions and npm packages,
read from the image's own files (dpkg status, dist-info, package.json)."""

from __future__ import annotations

import json
import re
import warnings
from email.parser import HeaderParser
from pathlib import Path

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

from floe_deploy.images.layers import ImageScan

MEDIA_TYPE = "application/vnd.cyclonedx+json"


def _dpkg_packages(status: bytes) -> list[Component]:
    components = []
    for stanza in re.split(r"\n\s*\n", status.decode(errors="replace")):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", stanza, flags=re.MULTILINE))
        if "install ok installed" not in fields.get("Status", "") or "Package" not in fields:
            continue
        purl = PackageURL(
            "deb",
            "debian",
            fields["Package"],
            fields.get("Version"),
            {"arch": fields.get("Architecture", "")},
        )
        components.append(
            Component(
                name=fields["Package"],
                version=fields.get("Version"),
                type=ComponentType.LIBRARY,
                purl=purl,
                bom_ref=purl.to_string(),
            )
        )
    return components


def _python_packages(files: dict[str, bytes]) -> list[Component]:
    components = []
    for path, data in files.items():
        if not path.endswith(".dist-info/METADATA"):
            continue
        headers = HeaderParser().parsestr(data.decode(errors="replace"))
        name, version = headers.get("Name"), headers.get("Version")
        if name and version:
            purl = PackageURL("pypi", None, name.lower(), version)
            components.append(
                Component(
                    name=name,
                    version=version,
                    type=ComponentType.LIBRARY,
                    purl=purl,
                    bom_ref=f"{purl.to_string()}#{path}",
                )
            )
    return components


def _npm_packages(files: dict[str, bytes]) -> list[Component]:
    components = []
    for path, data in files.items():
        if not path.endswith("/package.json") or "/node_modules/" not in path:
            continue
        try:
            manifest = json.loads(data)
        except json.JSONDecodeError:
            continue
        name, version = manifest.get("name"), manifest.get("version")
        if isinstance(name, str) and isinstance(version, str):
            namespace, _, short = name.rpartition("/")
            purl = PackageURL("npm", namespace or None, short, version)
            components.append(
                Component(
                    name=name,
                    version=version,
                    type=ComponentType.LIBRARY,
                    purl=purl,
                    bom_ref=f"{purl.to_string()}#{path}",
                )
            )
    return components


def image_sbom(scan: ImageScan, name: str, version: str) -> tuple[str, int]:
    """The CycloneDX 1.5 JSON document of one image, and how many components it lists."""
    bom = Bom()
    root = Component(
        name=name, version=version, type=ComponentType.CONTAINER, bom_ref=f"{name}@{version}"
    )
    bom.metadata.component = root
    components = _python_packages(scan.files) + _npm_packages(scan.files)
    if status := scan.files.get("var/lib/dpkg/status"):
        components += _dpkg_packages(status)
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        document = JsonV1Dot5(bom).output_as_string(indent=2)
    return document, len(components)


def write_sbom(document: str, directory: Path, image: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{image}-{version}.cdx.json"
    path.write_text(document + "\n")
    return path
