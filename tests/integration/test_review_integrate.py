"""The integrator on a real nats-server, and ``--apply``'s use of git: nothing bad is written."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from callsheet.agents import AgentRuntime
from callsheet.cli.fix_output import apply_patch
from callsheet.events.catalog import (
    ArtifactPublished,
    FixedFinding,
    PatchProposed,
    PatchProposedData,
    ReviewCompleted,
    ReviewCompletedData,
    ReviewRequested,
    ReviewRequestedData,
    TaskResult,
)
from callsheet.events.store import EventStore
from callsheet.review import Integrator
from callsheet.review.patches import unified
from callsheet.review.plan import INTEGRATOR, PATCH_REVIEWER
from tests.integration.agent_support import assigned, wait_for_type
from tests.integration.review_support import make_tree

BLOCK = "a = 0\nif a:\n    x = 1\n    # keep\n    y = 2\n"
IMPORTS = "import sys\nimport os\n\nprint(os.sep, sys.prefix)\n"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def patch(
    task: str, pid: str, path: str, before: str, after: str, perspective: str
) -> PatchProposed:
    return PatchProposed.new(
        data=PatchProposedData(
            patch_id=pid,
            path=path,
            perspective=perspective,  # type: ignore[arg-type]
            tool="ruff",
            applicability="safe",
            fixes=[FixedFinding(finding_id=f"f-{pid}", rule="X1", applicability="safe")],
            before=before,
            after=after,
            diff=unified(path, before, after),
            before_digest=digest(before),
            after_digest=digest(after),
        ),
        goal_id="g",
        task_id=task,
        producer="fixer-1",
    )


async def approve(store: EventStore, task: str, ids: list[str]) -> None:
    review = f"review-{task}"
    await store.append(
        ReviewRequested.new(
            data=ReviewRequestedData(
                review_id=review, reviewer_role=PATCH_REVIEWER, artifact_ids=ids
            ),
            goal_id="g",
            task_id=task,
            producer="supervisor",
        )
    )
    await store.append(
        ReviewCompleted.new(
            data=ReviewCompletedData(
                review_id=review, reviewer="patch-reviewer-1", verdict="approved"
            ),
            goal_id="g",
            task_id=task,
            producer="patch-reviewer-1",
        )
    )


async def test_a_merge_that_would_not_parse_keeps_the_file_as_it_was(
    store: EventStore, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", {"m.py": BLOCK, "n.py": IMPORTS})
    # Each fix alone is valid Python; together they leave `if a:` with no body.
    await store.append(
        patch("fix-bugs", "b-r1", "m.py", BLOCK, BLOCK.replace("    x = 1\n", ""), "bugs")
    )
    await store.append(
        patch("fix-style", "s-r1", "m.py", BLOCK, BLOCK.replace("    y = 2\n", ""), "style")
    )
    sorted_imports = IMPORTS.replace("import sys\nimport os\n", "import os\nimport sys\n")
    await store.append(patch("fix-style", "s-r1b", "n.py", IMPORTS, sorted_imports, "style"))
    await approve(store, "fix-bugs", ["b-r1"])
    await approve(store, "fix-style", ["s-r1", "s-r1b"])
    inputs = {
        "root": str(tree),
        "fix_tasks": ["fix-bugs", "fix-style"],
        "files": ["m.py", "n.py"],
        "test_files": [],
    }
    await store.append(assigned("integrate", role=INTEGRATOR, inputs=inputs, lease_seconds=30))
    async with AgentRuntime(store, [Integrator("integrator-1")]):
        (result,) = await wait_for_type(store, "task.result", task="integrate", timeout=60)
    assert isinstance(result, TaskResult)
    output = result.data.output
    assert output["verified"] is True and output["files"] == ["n.py"]
    assert output["applied"] == ["s-r1b"]
    assert set(output["left_out"]) == {"b-r1", "s-r1"}
    assert "the merged file would have m.py:" in output["left_out"]["b-r1"]
    artifacts = [s.event async for s in store.read(goal_id="g", types=["artifact.published"])]
    (published,) = artifacts
    assert isinstance(published, ArtifactPublished)
    body = published.data.content or ""
    assert "a/n.py" in body and "m.py" not in body
    assert (tree / "m.py").read_text() == BLOCK and (tree / "n.py").read_text() == IMPORTS


def test_apply_refuses_a_patch_that_no_longer_applies_and_writes_nothing(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", {"m.py": IMPORTS, "k.py": "x = 1\n"})
    fixed = IMPORTS.replace("import sys\nimport os\n", "import os\nimport sys\n")
    patch_file = tmp_path / "fixes.patch"
    patch_file.write_text(unified("m.py", IMPORTS, fixed) + unified("k.py", "x = 1\n", "x = 2\n"))
    (tree / "m.py").write_text(IMPORTS.replace("import sys", "import sys  # edited"))
    why = apply_patch(tree, patch_file)
    assert why is not None and why.startswith("the patch no longer applies: ") and "m.py" in why
    assert (tree / "k.py").read_text() == "x = 1\n"  # all or nothing: k.py would have applied
    (tree / "m.py").write_text(IMPORTS)
    assert apply_patch(tree, patch_file) is None
    assert (tree / "m.py").read_text() == fixed and (tree / "k.py").read_text() == "x = 2\n"


def test_apply_takes_paths_relative_to_the_root_inside_a_repository(tmp_path: Path) -> None:
    # A root named like its own package, inside a git repository: paths start with the root's
    # path in the repository, which git apply would take as relative to the repository's top.
    repo = tmp_path / "repo"
    tree = make_tree(repo / "shop", {"shop/cart.py": IMPORTS})
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    fixed = IMPORTS.replace("import sys\nimport os\n", "import os\nimport sys\n")
    patch_file = tmp_path / "fixes.patch"
    patch_file.write_text(unified("shop/cart.py", IMPORTS, fixed))
    assert apply_patch(tree, patch_file) is None
    assert (tree / "shop/cart.py").read_text() == fixed


async def integrate(store: EventStore, tree: Path, edits: dict[str, tuple[str, str]]) -> TaskResult:
    """Approve one style patch per edited file, and integrate them with the tests."""
    ids = []
    for n, (path, (before, after)) in enumerate(sorted(edits.items())):
        ids.append(f"s-r1-{n}")
        await store.append(patch("fix-style", ids[-1], path, before, after, "style"))
    await approve(store, "fix-style", ids)
    inputs = {
        "root": str(tree),
        "fix_tasks": ["fix-style"],
        "files": sorted(edits),
        "test_files": ["tests/test_m.py"],
    }
    await store.append(assigned("integrate", role=INTEGRATOR, inputs=inputs, lease_seconds=60))
    async with AgentRuntime(store, [Integrator("integrator-1")]):
        (result,) = await wait_for_type(store, "task.result", task="integrate", timeout=120)
    assert isinstance(result, TaskResult)
    return result


TESTED = {
    "m.py": "def f():\n    return 1\n",
    "tests/test_m.py": "from m import f\n\n\ndef test_f():\n    assert f() == 1\n",
}


async def test_a_test_the_merge_breaks_is_named_with_why(store: EventStore, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", TESTED)
    result = await integrate(store, tree, {"m.py": (TESTED["m.py"], "def f():\n    return 2\n")})
    output = result.data.output
    assert output["verified"] is False
    (name,) = output["new_failures"]
    assert name.endswith("test_f") and "assert 2 == 1" in output["failures"][name]
    assert f"{name} now fails: " in result.data.summary and "assert 2 == 1" in result.data.summary


async def test_a_suite_that_cannot_run_on_the_merged_tree_is_not_verified(
    store: EventStore, tmp_path: Path
) -> None:
    files = {**TESTED, "tests/conftest.py": "X = 1\n"}
    tree = make_tree(tmp_path / "tree", files)
    broken = "X = 1\nraise RuntimeError('conftest broken')\n"
    result = await integrate(
        store, tree, {"tests/conftest.py": (files["tests/conftest.py"], broken)}
    )
    output = result.data.output
    assert output["verified"] is False and output["new_failures"] == []
    (problem,) = output["problems"]
    assert problem.startswith("the project's tests could not run on the merged tree (pytest exit")
    assert "conftest broken" in problem, problem
