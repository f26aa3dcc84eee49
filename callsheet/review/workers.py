"""The review's workers that look at the code: the inventory taker and the analysts.

Both read the file system only through recorded calls (``agents.tools``), so a
re-drive of either runs no tool and reads no file: it gets what the log says
the live run got.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from callsheet.agents import Agent, WorkContext, work
from callsheet.agents.tools import ToolError, ToolRun, call_recorded
from callsheet.events.catalog import (
    PERSPECTIVES,
    AnalysisSkipped,
    AnalysisSkippedData,
    ContextUpdated,
    ContextUpdatedData,
    FindingReported,
    FindingReportedData,
    Perspective,
    TaskAssigned,
    TaskResultData,
)
from callsheet.models import Model, default_model
from callsheet.projections.findings import INVENTORY_KEY
from callsheet.review.analyzers import Analyzer, Job, Raw, Ruff, for_perspective
from callsheet.review.analyzers.ruff import RuffTogether
from callsheet.review.config import ProjectConfig
from callsheet.review.contracts import CONTRACT_PREFIX, contracts
from callsheet.review.conventions import CONVENTION_PREFIX, conventions, parse_all
from callsheet.review.findings import (
    digest_of,
    finding_data,
    line_of,
    read_source,
    syntax_finding,
)
from callsheet.review.growth import Handback, hand_back, measure
from callsheet.review.inventory import Inventory, InventoryError, decode_source, scan
from callsheet.review.model_review import review_with_model
from callsheet.review.opportunity import notice
from callsheet.review.plan import ANALYST, INVENTORY, defers_knowledge
from callsheet.review.resources import call_holding

__all__ = [
    "BATCH_LINES",
    "MAX_BATCHES",
    "AnalystWorker",
    "InventoryWorker",
    "TaskError",
    "job_from",
    "read_recorded",
]

BATCH_LINES = 5000
"""Lines analysed between two checkpoints (a batch of files, at least one file): few enough
to lose little to a crash, many enough that tools' start-up (bandit, radon: a Python
process each) stays small next to their work."""
MAX_BATCHES = 3
"""Most batches of one task: a large task's batches grow instead, since each batch starts
every tool again (a checkpoint a third of the way is enough to lose little)."""
_SKIP_PATHS = 10000


class TaskError(Exception):
    """A task that cannot be done, with the reason (``retryable``: whether to try again)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def job_from(inputs: dict[str, Any], files: Sequence[str]) -> Job:
    """The analyzers' job for some of a task's files, from the task's inputs."""
    tests = set(inputs.get("test_files", []))
    return Job(
        root=str(inputs["root"]),
        files=tuple(files),
        config=msgspec.convert(inputs.get("config") or {}, ProjectConfig),
        timeout=float(inputs.get("timeout", 300.0)),
        python=inputs.get("python"),
        cache=inputs.get("cache"),
        test_files=frozenset(f for f in files if f in tests),
    )


class InventoryWorker(Agent):
    """Takes the inventory: files, lines, packages, tests, the project's tool configuration.

    Its result is the inventory itself (the supervisor plans from it); it
    reports files that do not parse as findings, what it left out as
    ``analysis.skipped``, and the project's conventions to the shared context.
    """

    kind = "worker"
    role: ClassVar[str | None] = INVENTORY
    lease_seconds: ClassVar[float] = 60.0

    async def _knowledge(
        self,
        ctx: WorkContext,
        root: str,
        paths: list[str],
        tests: list[str],
        config: ProjectConfig,
    ) -> None:
        """The project's conventions and its modules' contracts, to the shared context."""

        def learn() -> dict[str, Any]:
            texts: dict[str, str] = {}
            for rel in paths:
                try:
                    texts[rel] = decode_source((Path(root) / rel).read_bytes())
                except (OSError, ValueError):
                    continue
            trees = parse_all(texts)  # once, for both
            return {
                "conventions": conventions(texts, tests, config, trees),
                "contracts": contracts({p: t for p, t in texts.items() if p not in tests}, trees),
            }

        async def read() -> Any:
            return await asyncio.to_thread(learn)

        found, _ = await call_recorded(ctx, "conventions", {"root": root, "files": paths}, read)
        known = found if isinstance(found, dict) else {}
        for name, value in sorted((known.get("conventions") or {}).items()):
            ctx.emit(
                ContextUpdated,
                ContextUpdatedData(
                    key=CONVENTION_PREFIX + name,
                    kind="convention",
                    value=value,
                    rationale=f"discovered from the project: {value.get('source', 'its code')}",
                    author=self.name,
                ),
                task_id=None,
            )
        for path, contract in sorted((known.get("contracts") or {}).items()):
            users = sorted({u for files in contract.get("used_by", {}).values() for u in files})
            ctx.emit(
                ContextUpdated,
                ContextUpdatedData(
                    key=CONTRACT_PREFIX + path,
                    kind="interface_contract",
                    value=contract,
                    rationale=f"the public signatures of {path}"
                    + (
                        f", used by {len(users)} other files"
                        if users
                        else ", used by no other file"
                    ),
                    author=self.name,
                ),
                task_id=None,
            )

    async def _learn(self, ctx: WorkContext, inputs: dict[str, Any]) -> TaskResultData:
        """The learning task (``plan.LEARN_TASK``): the knowledge of the files it names."""
        paths = [str(p) for p in inputs.get("files", [])]
        config = msgspec.convert(inputs.get("config") or {}, ProjectConfig)
        tests = [str(p) for p in inputs.get("test_files", [])]
        await self._knowledge(ctx, str(inputs["root"]), paths, tests, config)
        await ctx.flush()
        return TaskResultData(
            worker=self.name,
            output={"files": len(paths)},
            summary=f"conventions and contracts of {len(paths)} files",
        )

    @work()
    async def take(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Scan the tree (one recorded call), then report what it found."""
        if event.data.inputs.get("learn"):
            return await self._learn(ctx, dict(event.data.inputs))
        path = str(event.data.inputs.get("path", ""))

        async def read() -> Any:
            try:
                return msgspec.to_builtins(await asyncio.to_thread(scan, Path(path)))
            except InventoryError as exc:
                return {"error": str(exc)}

        found, evidence = await call_recorded(ctx, "inventory", {"path": path}, read)
        if isinstance(found, dict) and "error" in found:
            raise TaskError(str(found["error"]))
        inventory = msgspec.convert(found, Inventory)
        for source in inventory.files:
            if not source.parses:
                ctx.emit(FindingReported, syntax_finding(source, evidence))
        reasons: dict[str, list[str]] = {}
        for skipped in inventory.skipped:
            reasons.setdefault(skipped.reason, []).append(skipped.path)
        for reason, paths in sorted(reasons.items()):
            ctx.emit(AnalysisSkipped, AnalysisSkippedData(reason=reason, paths=paths[:_SKIP_PATHS]))
        summary = {
            "root": inventory.root,
            "files": len(inventory.files),
            "lines": inventory.lines,
            "test_files": sum(1 for f in inventory.files if f.test),
            "unparsable": sum(1 for f in inventory.files if not f.parses),
            "skipped": len(inventory.skipped),
            "other_files": inventory.other_files,
            "packages": inventory.packages,
            "test_dirs": inventory.test_dirs,
            "typed": inventory.typed,
            "has_tests": inventory.has_tests,
            "config": msgspec.to_builtins(inventory.config),
            "target": inventory.target,
        }
        ctx.emit(
            ContextUpdated,
            ContextUpdatedData(
                key=INVENTORY_KEY,
                kind="convention",
                value=summary,
                rationale="what the codebase holds and how the project configures its tools",
                author=self.name,
            ),
            task_id=None,
        )
        slots = event.data.inputs.get("slots")
        if not defers_knowledge(int(slots) if slots is not None else None, inventory.lines):
            await self._knowledge(
                ctx,
                inventory.root,
                [f.path for f in inventory.files if f.parses],
                [f.path for f in inventory.files if f.test],
                inventory.config,
            )
        await ctx.flush()
        return TaskResultData(
            worker=self.name,
            output=found,
            summary=f"{summary['files']} Python files, {summary['lines']} lines, "
            f"{len(inventory.packages)} packages, {summary['test_files']} test files; "
            f"{summary['skipped']} left out",
        )


async def read_recorded(
    ctx: WorkContext, root: str, places: Sequence[tuple[str, int]]
) -> dict[str, Any]:
    """``findings.read_source`` of these places, as one recorded call (none if no place)."""
    wanted: dict[str, list[int]] = {}
    for path, line in places:
        wanted.setdefault(path, []).append(line)
    if not wanted:
        return {}
    source, _ = await call_recorded(
        ctx,
        "read-source",
        {"root": root, "lines": wanted},
        lambda: asyncio.to_thread(read_source, root, wanted),
    )
    return dict(source)


def _batches(files: Sequence[str], sizes: Sequence[int]) -> list[list[str]]:
    """Consecutive files in batches of about equal lines.

    As many batches as ``BATCH_LINES`` lines each make, ``MAX_BATCHES`` at most; the
    same files and sizes always give the same batches (a resumed task counts on it).
    """
    weights = [max(1, int(n)) for n in sizes[: len(files)]]
    weights += [1] * (len(files) - len(weights))
    total = sum(weights)
    count = max(1, min(MAX_BATCHES, -(-total // BATCH_LINES), len(files)))
    out: list[list[str]] = [[] for _ in range(count)]
    seen = 0
    for path, weight in zip(files, weights, strict=True):
        # A file goes to the batch its first line falls in.
        out[min(count - 1, seen * count // max(total, 1))].append(path)
        seen += weight
    return [b for b in out if b]


class AnalystWorker(Agent):
    """Runs the analyzers of its task's perspectives on the task's files, batch by batch.

    After each batch of files its findings and a checkpoint are appended in one
    atomic batch, so a worker killed mid-task resumes at the next batch without
    analysing finished files again. With a model that is not the offline one
    (Claude, when a key is set), the model reviews each batch too.
    """

    kind = "worker"
    role: ClassVar[str | None] = ANALYST
    lease_seconds: ClassVar[float] = 60.0
    max_in_flight: ClassVar[int] = 2

    def __init__(self, name: str | None = None, *, model: Model | None = None) -> None:
        """Create it (the model reviews the code too unless it is the offline one)."""
        super().__init__(name)
        self.model = model or default_model()

    async def _run(
        self, ctx: WorkContext, analyzer: Analyzer, job: Job
    ) -> tuple[list[Raw], str] | None:
        """One analyzer on the batch; None when nothing runs.

        Raises:
            ToolError: The tool failed (the failure is recorded as a tool call).
        """
        invocation = analyzer.invocation(job)
        if invocation is None:
            return None
        run, evidence = await call_holding(ctx, analyzer.exclusive, invocation)
        try:
            return analyzer.parse(run, job), evidence
        except ToolError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            problem = f"unexpected output: {exc}"
            raise ToolError(analyzer.name, problem, retryable=False) from exc

    @staticmethod
    def _parsed(together: RuffTogether, run: ToolRun, job: Job) -> list[tuple[Perspective, Raw]]:
        try:
            return together.parse(run, job)
        except ToolError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ToolError("ruff", f"unexpected output: {exc}", retryable=False) from exc

    async def _findings(
        self, ctx: WorkContext, job: Job, raws: list[tuple[str, Perspective, Raw, str]]
    ) -> list[FindingReportedData]:
        """The raw findings as the catalog's, with lines and files read (one recorded read)."""
        places = [(raw.path, raw.line) for _, _, raw, _ in raws]
        source = await read_recorded(ctx, job.root, places)
        made: dict[str, FindingReportedData] = {}
        for tool, perspective, raw, evidence in raws:
            data = finding_data(
                raw,
                tool=tool,
                perspective=perspective,
                source_line=line_of(source, raw.path, raw.line),
                evidence_id=evidence,
                file_digest=digest_of(source, raw.path),
            )
            made.setdefault(data.finding_id, data)
        return list(made.values())

    async def _analyse(
        self,
        ctx: WorkContext,
        inputs: dict[str, Any],
        batch: list[str],
        budget: dict[str, float | None],
        *,
        model: bool = True,
    ) -> list[FindingReportedData]:
        """Every analyzer of the task's perspectives on one batch of files (and the model).

        A tool that cannot give an answer however often it runs (missing, past its
        timeout, stopped by the code, unreadable output) is recorded as not
        analysed for these files, and the others go on. A crash that another run
        may not repeat fails the task (the supervisor retries it), after what was
        found so far is reported, so nothing found is lost.
        """
        job = job_from(inputs, batch)
        perspectives: list[Perspective] = list(inputs.get("perspectives", []))
        raws: list[tuple[str, Perspective, Raw, str]] = []

        async def failed(exc: ToolError, names: list[Perspective], tool: str) -> None:
            """A retryable failure fails the task (after what was found); else not analysed."""
            if exc.retryable:
                for data in await self._findings(ctx, job, raws):
                    ctx.emit(FindingReported, data)
                await ctx.flush()
                raise exc
            ctx.emit(
                AnalysisSkipped,
                AnalysisSkippedData(
                    reason=str(exc)[:65536],
                    paths=list(batch)[:_SKIP_PATHS],
                    perspectives=names,
                    tool=tool,
                ),
            )

        # The perspectives' ruff rules in one run (``RuffTogether``), the other tools each once.
        together = RuffTogether(perspectives, job)
        shared: set[Perspective] = set()
        invocation = together.invocation(job)
        if invocation is not None:
            shared = set(together.perspectives)
            try:
                run, evidence = await call_holding(ctx, None, invocation)
                raws.extend(
                    ("ruff", p, raw, evidence) for p, raw in self._parsed(together, run, job)
                )
            except ToolError as exc:
                await failed(exc, list(together.perspectives), "ruff")
        for perspective in perspectives:
            typed = bool(inputs.get("typed"))
            for analyzer in for_perspective(perspective, typed=typed, tests=bool(job.test_files)):
                if isinstance(analyzer, Ruff) and perspective in shared:
                    continue
                try:
                    ran = await self._run(ctx, analyzer, job)
                except ToolError as exc:
                    await failed(exc, [perspective], analyzer.name)
                    continue
                if ran is not None:
                    found, evidence = ran
                    raws.extend((analyzer.name, perspective, raw, evidence) for raw in found)
        made = {d.finding_id: d for d in await self._findings(ctx, job, raws)}
        if model and self.model.provider != "offline":
            made.update(
                (d.finding_id, d)
                for d in await review_with_model(ctx, self.model, job, perspectives, budget)
                if d.finding_id not in made
            )
        return list(made.values())

    @work()
    async def analyse(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Analyse each batch of files, with a checkpoint after each.

        The tests perspective (mypy, the project's test suite) looks at the whole
        codebase at once, in one step after the batches.
        """
        inputs = dict(event.data.inputs)
        files = [str(f) for f in inputs.get("files", [])]
        sizes = [int(n) for n in inputs.get("sizes", [1] * len(files))]
        wanted: list[Perspective] = list(inputs.get("perspectives", []))
        state = ctx.checkpoint if isinstance(ctx.checkpoint, dict) else {}
        back = await self._grown(ctx, inputs, files, sizes, wanted, state)
        kept: dict[str, Any] = {}
        if back is not None:  # the rest goes back to the supervisor, in the result
            kept = {"kept": len(back.kept), "sizes_now": back.kept_sizes + back.back_sizes}
            files, sizes = back.kept, back.kept_sizes
        batched: list[Perspective] = [p for p in wanted if p != "tests"]
        steps: list[tuple[list[str], list[Perspective]]] = (
            [(batch, batched) for batch in _batches(files, sizes)] if batched else []
        )
        if "tests" in wanted:
            steps.append((files, ["tests"]))
        start, count = int(state.get("batch", 0)), int(state.get("findings", 0))
        cap = inputs.get("model_tokens")  # the task's share of the goal's token budget
        used = int(state.get("model_tokens", 0))
        cap_usd = inputs.get("model_cost_usd")  # and of its cost budget
        used_usd = float(state.get("model_cost_usd", 0.0))
        budget: dict[str, float | None] = {
            "tokens": None if cap is None else int(cap) - used,
            "usd": None if cap_usd is None else float(cap_usd) - used_usd,
        }
        for index in range(start, len(steps)):
            batch, perspectives = steps[index]
            # The model reads each file once: with the batches, or in the one step there is.
            reads = len(steps) == 1 or perspectives != ["tests"]
            scoped = {**inputs, "perspectives": perspectives}
            found = await self._analyse(ctx, scoped, batch, budget, model=reads)
            for data in found:
                ctx.emit(FindingReported, data)
            watch = [p for p in inputs.get("watch", []) if p in PERSPECTIVES]
            if watch and perspectives != ["tests"]:  # a look outside the review's perspectives
                await notice(ctx, event, job_from(inputs, batch), watch, index + 1, self._run)
            count += len(found)
            done = (
                len(files)
                if index == len(steps) - 1
                else sum(len(b) for b, _ in steps[: index + 1])
            )
            left, left_usd = budget["tokens"], budget["usd"]
            spent = 0 if cap is None or left is None else int(cap - left)
            spent_usd = 0.0 if cap_usd is None or left_usd is None else float(cap_usd) - left_usd
            ctx.checkpoint_event(
                {
                    "batch": index + 1,
                    "findings": count,
                    "model_tokens": max(0, spent),
                    "model_cost_usd": max(0.0, spent_usd),
                    **kept,
                },
                note=f"step {index + 1} of {len(steps)}: {done} of {len(files)} files",
            )
            await ctx.flush()  # the step's findings and its checkpoint: all or none
            await ctx.progress(100.0 * done / max(1, len(files)), f"{done}/{len(files)} files")
        names = ", ".join(str(p) for p in inputs.get("perspectives", []))
        output: dict[str, Any] = {"files": len(files), "findings": count, "steps": len(steps)}
        summary = f"{len(files)} files reviewed for {names}: {count} findings"
        if back is not None:
            output.update(
                handed_back=back.back,
                handed_back_sizes=back.back_sizes,
                planned_lines=sum(int(n) for n in inputs.get("sizes", [])),
                measured_lines=sum(back.kept_sizes) + sum(back.back_sizes),
            )
            summary += f"; {len(back.back)} files handed back, far larger than planned"
        return TaskResultData(worker=self.name, output=output, summary=summary)

    async def _grown(
        self,
        ctx: WorkContext,
        inputs: dict[str, Any],
        files: list[str],
        sizes: list[int],
        wanted: list[Perspective],
        state: dict[str, Any],
    ) -> Handback | None:
        """The files to hand back when they are far larger than planned (``review.growth``).

        Measured once, by the first delivery (a recorded call); a resumed one
        keeps what the checkpoint says it kept. The tests perspective, over the
        whole codebase, is never split.
        """
        if "tests" in wanted or "sizes" not in inputs or len(files) < 2:
            return None
        if state:  # resumed: the first delivery decided
            count = int(state.get("kept", len(files)))
            now = [int(n) for n in state.get("sizes_now", sizes)]
            return (
                Handback(files[:count], now[:count], files[count:], now[count:])
                if (count < len(files))
                else None
            )
        root = str(inputs["root"])
        now, _ = await call_recorded(
            ctx,
            "measure",
            {"root": root, "files": files},
            lambda: asyncio.to_thread(measure, root, files),
        )
        return hand_back(files, sizes, [int(n) for n in now])
