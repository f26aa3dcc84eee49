"""The inventory: what it takes in, what it leaves out and why; the project's tool config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callsheet.review import inventory as inventory_module
from callsheet.review.config import read_config
from callsheet.review.inventory import InventoryError, is_test_path, line_digest, scan


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_files_lines_packages_and_tests(tmp_path: Path) -> None:
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/core.py", "def f(x: int) -> int:\n    return x\n")
    write(tmp_path, "tests/test_core.py", "def test_f():\n    assert True\n")
    write(tmp_path, "notes.txt", "not python")
    inv = scan(tmp_path)
    assert [f.path for f in inv.files] == ["pkg/__init__.py", "pkg/core.py", "tests/test_core.py"]
    core = inv.files[1]
    assert (core.lines, core.functions, core.annotated, core.test) == (2, 1, 1, False)
    assert inv.files[2].test
    assert inv.packages == ["pkg"]
    assert inv.test_dirs == ["tests"]
    assert inv.other_files == 1
    assert inv.lines == 4
    assert inv.has_tests
    assert inv.typed  # every function of the code is annotated
    assert inv.target is None


def test_a_file_that_does_not_parse_is_kept_with_its_syntax_error(tmp_path: Path) -> None:
    write(tmp_path, "bad.py", "x = 1\ndef broken(:\n    pass\n")
    (bad,) = scan(tmp_path).files
    assert not bad.parses
    assert bad.error_line == 2
    assert bad.error_text == "def broken(:"
    assert bad.error is not None and bad.error.startswith("SyntaxError")


def test_what_is_left_out_is_listed_with_the_reason(tmp_path: Path) -> None:
    write(tmp_path, "ok.py", "x = 1\n")
    write(tmp_path, "binary.py", b"\x00\x01\x02garbage")
    write(tmp_path, "latin.py", b"x = '\xe9'\n")  # not UTF-8, and no coding cookie
    write(tmp_path, ".git/hooks/pre.py", "x = 1\n")
    write(tmp_path, ".venv/lib/site.py", "x = 1\n")
    write(tmp_path, "pkg/__pycache__/m.py", "x = 1\n")
    (tmp_path / "loop").symlink_to(tmp_path)  # a folder symlink loop
    (tmp_path / "alias.py").symlink_to(tmp_path / "ok.py")
    (tmp_path / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    inv = scan(tmp_path)
    assert [f.path for f in inv.files] == ["ok.py"]
    reasons = {s.path: s.reason for s in inv.skipped}
    assert "NUL bytes" in reasons["binary.py"]
    assert "declared encoding" in reasons["latin.py"]
    assert reasons["loop"] == "symbolic link to a folder (not followed)"
    assert reasons["alias.py"] == "symbolic link (not followed)"
    assert reasons["dangling.py"] == "symbolic link (not followed)"
    for folder in (".git", ".venv", "pkg/__pycache__"):
        assert "left out" in reasons[folder]


def test_a_coding_cookie_is_honoured(tmp_path: Path) -> None:
    write(tmp_path, "latin.py", b"# -*- coding: latin-1 -*-\nx = '\xe9'\n")
    (source,) = scan(tmp_path).files
    assert source.parses and source.lines == 2


def test_huge_files_are_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inventory_module, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(inventory_module, "MAX_FILE_LINES", 5)
    write(tmp_path, "big.py", "x = 1\n" * 40)
    write(tmp_path, "long.py", "x=1\n" * 10)
    reasons = {s.path: s.reason for s in scan(tmp_path).skipped}
    assert reasons["big.py"] == "240 bytes, over the limit of 100"
    assert reasons["long.py"] == "10 lines, over the limit of 5"


def test_an_unreadable_file_is_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "secret.py", "x = 1\n")
    real = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == "secret.py":
            raise PermissionError(13, "Permission denied")
        return real(self)

    # The tests run as root, which chmod cannot lock out: the read itself is made to fail.
    monkeypatch.setattr(Path, "read_bytes", refuse)
    (skipped,) = scan(tmp_path).skipped
    assert skipped.path == "secret.py"
    assert skipped.reason == "cannot be read: Permission denied"


def test_one_file_is_reviewed_in_its_folder(tmp_path: Path) -> None:
    target = write(tmp_path, "one.py", "x = 1\n")
    write(tmp_path, "other.py", "y = 2\n")
    inv = scan(target)
    assert inv.root == str(tmp_path.resolve())
    assert [f.path for f in inv.files] == ["one.py"]
    assert inv.target == "one.py"


def test_paths_that_cannot_be_reviewed(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="does not exist"):
        scan(tmp_path / "missing")
    with pytest.raises(InventoryError, match=r"not a Python file \(\.py\)"):
        scan(write(tmp_path, "notes.txt", "hello"))


def test_an_empty_folder_has_nothing_to_review(tmp_path: Path) -> None:
    inv = scan(tmp_path)
    assert inv.files == [] and inv.lines == 0 and not inv.typed and not inv.has_tests


def test_test_paths() -> None:
    assert is_test_path("tests/unit/test_x.py")
    assert is_test_path("pkg/test_x.py")
    assert is_test_path("pkg/x_test.py")
    assert is_test_path("conftest.py")
    assert not is_test_path("pkg/testing_helpers.py")
    assert not is_test_path("pkg/contest.py")


def test_line_digest_is_of_the_text() -> None:
    assert line_digest("x = 1") == line_digest("x = 1")
    assert line_digest("x = 1") != line_digest("x = 1 ")
    assert line_digest("é").startswith("sha256:")


def test_the_projects_own_tool_configuration(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        '[project]\nrequires-python = ">=3.10"\n'
        '[tool.ruff]\nline-length = 120\n[tool.ruff.lint]\nignore = ["E501", "bogus"]\n'
        "[tool.ruff.lint.mccabe]\nmax-complexity = 12\n[tool.mypy]\nstrict = true\n"
        "[tool.pytest.ini_options]\naddopts = '-q'\n",
    )
    config = read_config(tmp_path)
    assert config.ruff_config == "pyproject.toml"
    assert config.ruff_ignore == ["E501"]
    assert (config.line_length, config.max_complexity) == (120, 12)
    assert config.target_version == "py310"
    assert (config.mypy_config, config.pytest_config) == ("pyproject.toml", "pyproject.toml")
    assert config.errors == []


def test_ruff_toml_wins_and_flake8_settings_are_read(tmp_path: Path) -> None:
    write(tmp_path, "ruff.toml", 'target-version = "py312"\n[lint]\nextend-ignore = ["D"]\n')
    write(tmp_path, "setup.cfg", "[flake8]\nmax-line-length = 79\nmax-complexity = 8\n[mypy]\n")
    config = read_config(tmp_path)
    assert config.ruff_config == "ruff.toml"
    assert config.ruff_ignore == ["D"]
    assert config.target_version == "py312"
    assert (config.line_length, config.max_complexity) == (79, 8)
    assert config.mypy_config == "setup.cfg"


def test_a_broken_configuration_file_is_noted_not_fatal(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.ruff\nline-length = ")
    write(tmp_path, "setup.cfg", "no section header\n")
    config = read_config(tmp_path)
    assert config.ruff_config is None
    assert len(config.errors) == 2
    assert config.errors[0].startswith("pyproject.toml:")
    assert os.path.basename(config.errors[1]).startswith("setup.cfg:")


def test_mypys_own_exclusions_are_kept(tmp_path: Path) -> None:
    from callsheet.review.analyzers import Job, Mypy

    write(tmp_path, "pyproject.toml", '[tool.mypy]\nexclude = ["^build/", "(bad"]\n')
    config = read_config(tmp_path)
    assert config.mypy_exclude == ["^build/"]  # one that does not compile is dropped
    job = Job(root=str(tmp_path), files=("a.py", "build/b.py"), config=config)
    invocation = Mypy().invocation(job)
    assert invocation is not None
    assert "a.py" in invocation.args and "build/b.py" not in invocation.args
