"""An analysis task's batches of files (its checkpoints): few, even, and always the same."""

from __future__ import annotations

from callsheet.review.workers import BATCH_LINES, MAX_BATCHES, _batches


def test_a_task_under_a_batch_of_lines_is_one_batch() -> None:
    assert _batches(["a.py", "b.py"], [10, BATCH_LINES - 11]) == [["a.py", "b.py"]]


def test_batches_are_consecutive_even_and_never_more_than_the_most() -> None:
    files = [f"m{i:03d}.py" for i in range(178)]
    sizes = [100 + (i * 37) % 700 for i in range(178)]
    batches = _batches(files, sizes)
    assert len(batches) == MAX_BATCHES  # a large task: bigger batches, not more
    assert [f for b in batches for f in b] == files
    lines = {f: n for f, n in zip(files, sizes, strict=True)}
    totals = [sum(lines[f] for f in b) for b in batches]
    assert max(totals) - min(totals) < 2 * max(sizes)
    assert _batches(files, sizes) == batches  # a resumed task finds the same batches


def test_a_task_of_two_batches_of_lines_is_cut_in_two() -> None:
    batches = _batches([f"m{i}.py" for i in range(6)], [1450] * 6)  # 8,700 lines
    assert [len(b) for b in batches] == [3, 3]
    assert _batches(["big.py"], [50 * BATCH_LINES]) == [["big.py"]]  # a file is never split
