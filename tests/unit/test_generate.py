"""``stoppoc generate`` writes the documents made from the code, and ``--check`` names a stale one."""

import json
from pathlib import Path

from click.testing import CliRunner

from stoppoc.cli import generate
from stoppoc.cli.main import main


def run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["generate", *arguments])
    return result.exit_code, result.output


def test_generate_writes_every_document_then_check_passes(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    for path in generate.GENERATED:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    assert run("--root", str(tmp_path), "--check")[0] == 1  # nothing written yet

    code, output = run("--root", str(tmp_path))
    assert code == 0
    assert {line.removeprefix("wrote ") for line in output.splitlines()} == set(generate.GENERATED)
    assert run("--root", str(tmp_path), "--check") == (0, "")


def test_check_names_the_file_that_is_out_of_date(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    for path in generate.GENERATED:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    run("--root", str(tmp_path))
    asyncapi = tmp_path / "docs" / "asyncapi.json"
    edited = json.loads(asyncapi.read_text())
    edited["info"]["title"] = "something else"
    asyncapi.write_text(json.dumps(edited))

    code, output = run("--root", str(tmp_path), "--check")
    assert code == 1
    assert "out of date: docs/asyncapi.json (run: stoppoc generate)" in output
    assert "definitions.json" not in output


def test_generate_refuses_a_folder_that_is_not_the_repository(tmp_path: Path):
    code, output = run("--root", str(tmp_path))
    assert code == 2
    assert "not the repository's root" in output
