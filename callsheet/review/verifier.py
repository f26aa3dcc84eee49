"""The verifier: checks the findings of its module group against the files and the tools."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from callsheet.agents import Agent, WorkContext, work
from callsheet.agents.tools import ToolError
from callsheet.events.catalog import (
    FindingReportedData,
    FindingVerified,
    FindingVerifiedData,
    TaskAssigned,
    TaskResultData,
)
from callsheet.projections import findings as findings_projection
from callsheet.review.analyzers import ALL, key_of
from callsheet.review.findings import SYNTAX_RULE, digest_of
from callsheet.review.model_review import MODEL_TOOL
from callsheet.review.plan import VERIFIER
from callsheet.review.resources import call_holding
from callsheet.review.verify import Reconfirmed, judge
from callsheet.review.workers import job_from, read_recorded

__all__ = ["VerifierWorker"]

_VERDICTS = ("confirmed", "rejected", "merged")


def _why_not(finding: FindingReportedData) -> str:
    if finding.origin == "model" or finding.tool == MODEL_TOOL:
        return "a model's finding: checked against the line, no tool re-runs a model's judgement"
    if finding.rule == SYNTAX_RULE:
        return "the inventory's parse of the file found it"
    return f"{finding.tool} measures {finding.rule} once; it is not run again"


def _unchanged(finding: FindingReportedData, source: dict[str, Any]) -> bool:
    """Whether the file is the one the finding was made in (an unknown digest never is)."""
    return finding.file_digest is not None and finding.file_digest == digest_of(
        source, finding.path
    )


class VerifierWorker(Agent):
    """Confirms, rejects or merges each finding of the analysis tasks its task names."""

    kind = "reviewer"
    role: ClassVar[str | None] = VERIFIER
    lease_seconds: ClassVar[float] = 60.0

    async def _scope(
        self, ctx: WorkContext, event: TaskAssigned, inputs: dict[str, Any]
    ) -> tuple[list[FindingReportedData], list[FindingReportedData]]:
        """The findings to judge, and those other verifiers kept on the same files.

        Read as the log was when the task was assigned (its analyses were done then).
        """
        tasks = set(inputs.get("analysis_tasks", []))
        files = set(inputs.get("files", []))
        state = findings_projection.initial()
        async for stored in ctx.store.read(
            goal_id=event.goal_id, types=["finding.*"], until_seq=ctx.seq
        ):
            state = findings_projection.fold(state, stored.event)
        mine = [c.data for c in state.cards() if c.task_id in tasks and c.data.path in files]
        kept = [
            c.data
            for c in state.by_status("confirmed")
            if c.task_id not in tasks and c.data.path in files
        ]
        return mine, kept

    async def _reruns(
        self,
        ctx: WorkContext,
        inputs: dict[str, Any],
        reported: list[FindingReportedData],
        source: dict[str, Any],
        unconfirmable: dict[str, str],
    ) -> dict[str, Reconfirmed]:
        """Each analyzer again, on the files with its findings, for the rules it found.

        With ``reconfirm="changed"`` a per-file tool runs again only on files whose
        bytes changed since it analysed them: on the same bytes, with the same
        configuration, it gives the same findings (the reason says so).
        """
        always = inputs.get("reconfirm") == "always"
        reruns: dict[str, Reconfirmed] = {}
        keys = {f.finding_id: key_of(f) for f in reported}
        for key in sorted({k for k in keys.values() if k is not None}):
            analyzer = ALL[key]
            group = [f for f in reported if keys[f.finding_id] == key]
            if not always and analyzer.per_file:
                same = [f for f in group if _unchanged(f, source)]
                for f in same:
                    unconfirmable[f.finding_id] = (
                        f"the file is byte for byte as {f.tool} analysed it (sha256 "
                        f"{(f.file_digest or '')[:12]}...): the same tool and configuration "
                        f"give the same {f.rule} there"
                    )
                group = [f for f in group if f not in same]
            rules = sorted({f.rule for f in group if analyzer.reconfirms(f.rule)})
            paths = sorted({f.path for f in group})
            job = job_from(inputs, paths)
            invocation = analyzer.confirm(job, rules) if group else None
            if invocation is None:
                continue
            try:
                run, evidence = await call_holding(ctx, analyzer.exclusive, invocation)
                present = analyzer.parse(run, job)
            except ToolError as exc:
                why = f"{analyzer.name} could not run again ({exc}); checked against the line"
                unconfirmable.update((f.finding_id, why) for f in group)
                continue
            reruns[key] = Reconfirmed(
                present=frozenset((r.path, r.line, r.rule) for r in present),
                evidence_id=evidence,
                rules=frozenset(rules),
                paths=frozenset(paths),
            )
        return reruns

    @work()
    async def verify(self, event: TaskAssigned, ctx: WorkContext) -> TaskResultData:
        """Re-run each analyzer on the files with findings, read the lines, judge."""
        inputs = dict(event.data.inputs)
        reported, prior = await self._scope(ctx, event, inputs)
        root = str(inputs["root"])
        source = await read_recorded(ctx, root, [(f.path, f.line) for f in reported])
        unconfirmable = {f.finding_id: _why_not(f) for f in reported}
        reruns = await self._reruns(ctx, inputs, reported, source, unconfirmable)
        lines = {path: dict(read.get("lines", {})) for path, read in source.items()}
        keys = {f.finding_id: key_of(f) for f in reported}
        verdicts = judge(reported, lines, reruns, unconfirmable, keys, prior)
        for v in verdicts:
            ctx.emit(
                FindingVerified,
                FindingVerifiedData(
                    finding_id=v.finding_id,
                    verdict=v.verdict,  # type: ignore[arg-type]
                    reason=v.reason[:65536],
                    verifier=self.name,
                    merged_into=v.merged_into,
                    evidence_id=v.evidence_id,
                ),
            )
        await ctx.flush()
        counts = Counter(v.verdict for v in verdicts)
        return TaskResultData(
            worker=self.name,
            output={"findings": len(verdicts), **{k: counts[k] for k in _VERDICTS}},
            summary=f"{len(verdicts)} findings checked: {counts['confirmed']} confirmed, "
            f"{counts['rejected']} rejected, {counts['merged']} merged",
        )
