"""What ``pip install`` puts into site-packages: one name, ``stoppoc``, for both distributions."""

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# Where each folder of the repository lands in the wheel.
MAPPED = {
    "shared": "stoppoc/shared",
    "services": "stoppoc/services",
    "cli": "stoppoc/cli",
    "client/stoppoc/contract": "stoppoc/contract",
    "client/stoppoc/client": "stoppoc/client",
}


def build(project: Path, into: Path) -> zipfile.ZipFile:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(into), str(project)],
        check=True,
        capture_output=True,
    )
    (wheel,) = into.glob("*.whl")
    return zipfile.ZipFile(wheel)


def requirements(wheel: zipfile.ZipFile) -> list[str]:
    (metadata,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    parsed = Parser().parsestr(wheel.read(metadata).decode())
    return [r for r in parsed.get_all("Requires-Dist") or [] if "extra ==" not in r]


@pytest.fixture(scope="module")
def service_wheel(tmp_path_factory) -> zipfile.ZipFile:
    return build(ROOT, tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="module")
def client_wheel(tmp_path_factory) -> zipfile.ZipFile:
    return build(ROOT / "client", tmp_path_factory.mktemp("client"))


def top_level(wheel: zipfile.ZipFile) -> set[str]:
    return {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}


def test_the_service_distribution_installs_only_the_stoppoc_name(service_wheel):
    assert top_level(service_wheel) == {"stoppoc"}
    # A namespace package, so that stoppoc-client can share it.
    assert "stoppoc/__init__.py" not in service_wheel.namelist()


def test_every_module_and_sql_file_of_the_repository_is_in_the_wheel(service_wheel):
    shipped = set(service_wheel.namelist())
    for folder, package in MAPPED.items():
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".sql", ".j2"} and "__pycache__" not in path.parts:
                assert f"{package}/{path.relative_to(ROOT / folder).as_posix()}" in shipped, path
    # The notifier's e-mail layouts, beside its templates.
    assert "stoppoc/services/notifier/templates/vi/_layout.html" in shipped


def test_the_client_distribution_is_the_contract_and_the_client_with_pydantic_and_aio_pika(client_wheel):
    assert top_level(client_wheel) == {"stoppoc"}
    packages = {"/".join(name.split("/")[:2]) for name in client_wheel.namelist() if name.startswith("stoppoc/")}
    assert packages == {"stoppoc/contract", "stoppoc/client"}
    assert {"stoppoc/contract/py.typed", "stoppoc/client/py.typed"} <= set(client_wheel.namelist())
    unconditional = [r for r in requirements(client_wheel) if ";" not in r]
    assert sorted(r.split("=")[0].split("<")[0].split(">")[0] for r in unconditional) == ["aio-pika", "pydantic"]
    # Only where the system has no time-zone database for zoneinfo.
    assert [r for r in requirements(client_wheel) if ";" in r] == ['tzdata==2026.6; sys_platform == "win32"']
