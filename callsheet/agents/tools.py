"""Recorded tool calls: made once, stored as ``tool.called``, answered from the log on a re-drive.

A tool call is a subprocess, or any other non-deterministic read (of files...).

A tool is named by what it is (``ruff``, ``mypy``), not by where it lives: the
``Invocation`` holds the logical command, so its digest (the key a re-drive finds
the call by) is the same on any machine. The runner resolves the executable when
it runs, and the event records the exact command line it ran.

A process that cannot start, runs past its timeout or exits with a status the
tool does not use is a ``ToolError``; it is recorded too (so a re-drive fails the
same way) and raised to the handler, whose task then fails with the tool's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from callsheet.agents.context import HandlerContext, WorkContext
from callsheet.events.catalog import ToolCalled, ToolCalledData
from callsheet.events.envelope import Event

__all__ = [
    "MAX_OUTPUT_BYTES",
    "PRIVATE_COPY_IGNORED",
    "Invocation",
    "ToolError",
    "ToolRun",
    "cache_root",
    "call_recorded",
    "call_tool",
    "recorded_calls",
    "resolve",
    "run_tool",
]

MAX_OUTPUT_BYTES = 32 * 1024 * 1024
"""Most output kept from one stream of a tool; beyond it the call fails (memory stays bounded)."""

PRIVATE_COPY_IGNORED = (
    ".git",
    ".hg",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".callsheet",
)
"""Folders left out of a private copy: version control, environments and caches."""

_PYTHON_TOOLS = frozenset({"bandit", "coverage", "mypy", "pytest", "radon", "ruff"})
_ON_PATH = frozenset({"pytest", "coverage"})
"""Tools that run the project's own code, which imports from the folder it runs in."""
_encoder = msgspec.json.Encoder(order="sorted")


class ToolError(Exception):
    """A tool could not give an answer: missing, timed out, crashed.

    Attributes:
        tool: The tool's name.
        retryable: Whether running it again may help (a crash may; a missing tool won't).
    """

    def __init__(self, tool: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{tool}: {message}")
        self.tool = tool
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run of a tool, described without machine-specific paths.

    ``{tmp}`` in ``args``, ``env`` values and ``outputs`` becomes a fresh temporary
    folder of the run; with ``copy_of`` the folder is copied to ``{tmp}/tree`` first
    (see ``PRIVATE_COPY_IGNORED``) and ``cwd`` may be ``{copy}``, that copy;
    ``{cache}`` is the folder ``cache`` names under ``cache_root()``, which outlives
    the run (an incremental cache shared by several runs).

    Attributes:
        tool: Logical name, e.g. ``ruff`` (see ``resolve``).
        args: Arguments after the executable.
        cwd: Working folder (absolute), or ``{copy}``.
        timeout: Seconds before the process group is killed.
        env: Extra environment variables.
        outputs: Files the tool writes, by name, read into the result after the run.
        ok_exit: Exit statuses the tool uses for a finished run (findings included).
        copy_of: Folder to copy privately before the run (for tools that write).
        overlay: Files (path relative to the copy: text) written into the copy before the
            run, e.g. a fix to check or to build on.
        interpreter: Python to run the tool with (``interpreter -m tool``), if not the crew's.
        cache: Name of the lasting folder ``{cache}`` stands for, if the tool uses one.
    """

    tool: str
    args: tuple[str, ...]
    cwd: str
    timeout: float = 300.0
    env: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    ok_exit: frozenset[int] = frozenset({0})
    copy_of: str | None = None
    overlay: Mapping[str, str] = field(default_factory=dict)
    interpreter: str | None = None
    cache: str | None = None

    def canonical(self) -> dict[str, Any]:
        """The invocation as plain JSON data (what is digested and recorded)."""
        return {
            "tool": self.tool,
            "args": list(self.args),
            "cwd": self.cwd,
            "timeout": self.timeout,
            "env": dict(self.env),
            "outputs": dict(self.outputs),
            "ok_exit": sorted(self.ok_exit),
            "copy_of": self.copy_of,
            "interpreter": self.interpreter,
            "cache": self.cache,
            # Only when set: the digests of runs recorded before overlays existed stay valid.
            **({"overlay": dict(self.overlay)} if self.overlay else {}),
        }

    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical invocation: the key of a recorded call."""
        return _digest({"kind": "process", **self.canonical()})

    def with_overlay(self, overlay: Mapping[str, str]) -> Invocation:
        """The same run in a private copy with these files written into it first.

        Raises:
            ValueError: The invocation does not run in a private copy.
        """
        if self.copy_of is None:
            raise ValueError(f"{self.tool} does not run in a private copy: nothing to overlay")
        return replace(self, overlay={**self.overlay, **overlay})


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What a finished tool run gave.

    Attributes:
        exit_code: The process's exit status.
        stdout: Its standard output (UTF-8, undecodable bytes replaced).
        stderr: Its standard error.
        outputs: The files named in ``Invocation.outputs``, by name (None: not written).
        command: The exact command line that ran.
        duration_ms: Wall time.
        workdir: The folder it ran in (a private copy's path is gone after the run, but
            names the files the tool reported, e.g. ruff's absolute file names).
    """

    exit_code: int
    stdout: str
    stderr: str
    outputs: Mapping[str, str | None]
    command: tuple[str, ...]
    duration_ms: float
    workdir: str = ""


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(_encoder.encode(value)).hexdigest()


def resolve(tool: str, interpreter: str | None = None) -> list[str]:
    """The command line that starts ``tool``.

    ``CALLSHEET_TOOL_<NAME>`` (upper case, ``-`` as ``_``) overrides it, e.g.
    ``CALLSHEET_TOOL_RUFF=/opt/ruff/bin/ruff``. Python tools run with
    ``interpreter`` (or the crew's Python) as ``python -m tool`` when installed
    there; otherwise the executable is looked up on ``PATH``.

    Raises:
        ToolError: The tool is not installed.
    """
    override = os.environ.get("CALLSHEET_TOOL_" + tool.upper().replace("-", "_"))
    if override:
        return shlex.split(override)
    if interpreter is not None:
        return [interpreter, "-m", tool]
    if tool in _PYTHON_TOOLS and importlib.util.find_spec(tool) is not None:
        # -P: the folder it runs in is the reviewed code, whose logging.py or json.py
        # must not shadow the standard library's (the tests alone need it on the path).
        return (
            [sys.executable, "-m", tool] if tool in _ON_PATH else [sys.executable, "-P", "-m", tool]
        )
    found = shutil.which(tool)
    if found is None:
        raise ToolError(tool, "not installed (not on PATH)", retryable=False)
    return [found]


def _copy(source: str, target: str, overlay: Mapping[str, str]) -> None:
    shutil.copytree(
        source, target, symlinks=True, ignore=shutil.ignore_patterns(*PRIVATE_COPY_IGNORED)
    )
    base = Path(target).resolve()
    for rel, text in overlay.items():
        path = (base / rel).resolve()
        if base not in path.parents:
            raise ToolError("overlay", f"{rel} is outside the copy", retryable=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def cache_root() -> Path:
    """Where lasting tool caches live: ``CALLSHEET_TOOL_CACHE``, or the user's cache folder."""
    configured = os.environ.get("CALLSHEET_TOOL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "callsheet" / "tools"


def _expander(tmp: str, cache: str | None) -> Callable[[str], str]:
    lasting = str(cache_root() / cache) if cache else None

    def expand(text: str) -> str:
        text = text.replace("{copy}", f"{tmp}/tree").replace("{tmp}", tmp)
        if lasting is not None and "{cache}" in text:
            Path(lasting).mkdir(parents=True, exist_ok=True)
            text = text.replace("{cache}", lasting)
        return text

    return expand


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the tool and anything it started
    with contextlib.suppress(Exception):
        await process.wait()


async def _read(stream: asyncio.StreamReader | None, tool: str) -> bytes:
    if stream is None:
        return b""
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(1 << 16):
        size += len(chunk)
        if size > MAX_OUTPUT_BYTES:
            raise ToolError(tool, f"wrote over {MAX_OUTPUT_BYTES} bytes", retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


async def run_tool(invocation: Invocation) -> ToolRun:
    """Run the tool in a subprocess, in a session of its own, with its timeout.

    Raises:
        ToolError: It could not start, ran past its timeout, wrote too much, or
            exited with a status not in ``ok_exit``.
    """
    inv = invocation
    command = [*resolve(inv.tool, inv.interpreter)]
    with tempfile.TemporaryDirectory(prefix=f"callsheet-{inv.tool}-") as tmp:
        if inv.copy_of is not None:
            await asyncio.to_thread(_copy, inv.copy_of, f"{tmp}/tree", inv.overlay)
        expand = _expander(tmp, inv.cache)
        command += [expand(a) for a in inv.args]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}
        if inv.tool not in _ON_PATH:
            env["PYTHONSAFEPATH"] = "1"  # the same as -P, for an interpreter of the project's
        env.update({k: expand(v) for k, v in inv.env.items()})
        started = time.perf_counter()
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=expand(inv.cwd),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            raise ToolError(inv.tool, f"cannot start {command[0]}: {exc}", retryable=False) from exc
        try:
            out, err = await asyncio.wait_for(
                asyncio.gather(_read(process.stdout, inv.tool), _read(process.stderr, inv.tool)),
                inv.timeout,
            )
            code = await process.wait()
        except TimeoutError:
            await _kill(process)
            raise ToolError(
                inv.tool, f"still running after {inv.timeout:g} s: stopped", retryable=False
            ) from None
        except BaseException:
            await _kill(process)
            raise
        duration = (time.perf_counter() - started) * 1000
        outputs = {name: _slurp(expand(path)) for name, path in inv.outputs.items()}
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    if code not in inv.ok_exit:
        tail = (stderr.strip() or stdout.strip()).splitlines()[-5:]
        raise _Crashed(inv.tool, code, "; ".join(tail)[:2000], command, duration, stdout, stderr)
    return ToolRun(
        code, stdout, stderr, outputs, tuple(command), round(duration, 3), expand(inv.cwd)
    )


def _slurp(path: str) -> str | None:
    target = Path(path)
    if not target.is_file():
        return None
    if target.stat().st_size > MAX_OUTPUT_BYTES:
        raise ToolError(target.name, f"output file over {MAX_OUTPUT_BYTES} bytes", retryable=False)
    return target.read_text("utf-8", "replace")


class _Crashed(ToolError):
    """A tool exited with a status it does not use for a finished run."""

    def __init__(
        self,
        tool: str,
        code: int,
        tail: str,
        command: list[str],
        duration: float,
        stdout: str,
        stderr: str,
    ) -> None:
        super().__init__(tool, f"exited with status {code}: {tail or 'no output'}", retryable=True)
        self.exit_code = code
        self.command = command
        self.duration = duration
        self.stdout = stdout
        self.stderr = stderr


def _replayed(found: ToolCalled) -> ToolRun:
    data = found.data
    if data.error is not None:
        tool, _, message = data.error.partition(": ")
        raise ToolError(tool or data.tool, message, retryable=bool(data.exit_code))
    result = data.result if isinstance(data.result, dict) else {}
    return ToolRun(
        exit_code=data.exit_code or 0,
        stdout=str(result.get("stdout", "")),
        stderr=str(result.get("stderr", "")),
        outputs=dict(result.get("outputs") or {}),
        command=tuple(data.command),
        duration_ms=data.duration_ms,
        workdir=str(result.get("workdir", "")),
    )


async def _record(ctx: HandlerContext, data: ToolCalledData) -> ToolCalled:
    if isinstance(ctx, WorkContext):
        return await ctx.send(ToolCalled, data)
    return ctx.emit(ToolCalled, data)


def _recorded(ctx: HandlerContext, digest: str, what: str) -> ToolCalled | None:
    """The recorded call with this digest, when re-driving (in call order)."""
    if ctx.recorded_tools is None:
        return None
    calls = ctx.recorded_tools.get(digest)
    if not calls:
        raise LookupError(f"no recorded {what} call with digest {digest}")
    return calls.pop(0)


async def call_tool(ctx: HandlerContext, invocation: Invocation) -> tuple[ToolRun, str]:
    """Run a tool and record the run as a ``tool.called`` event of the handler.

    On a re-drive (``ctx.recorded_tools`` is set) the recorded run with the same
    digest is returned (or its recorded error raised) and nothing runs.

    Returns:
        The run, and the id of its ``tool.called`` event (evidence for what it found).

    Raises:
        ToolError: The tool could not give an answer (the failure is recorded too).
        LookupError: Re-driving, and the log has no such call.
    """
    digest = invocation.digest()
    found = _recorded(ctx, digest, invocation.tool)
    if found is not None:
        await _record(ctx, found.data)
        return _replayed(found), _made_id(ctx)
    base: dict[str, Any] = {
        "agent": ctx.agent.name,
        "tool": invocation.tool,
        "request_digest": digest,
        "arguments": invocation.canonical(),
    }
    try:
        run = await run_tool(invocation)
    except _Crashed as exc:
        result = {"stdout": exc.stdout, "stderr": exc.stderr, "outputs": {}}
        await _record(
            ctx,
            ToolCalledData(
                **base,
                result=result,
                error=str(exc)[:65536],
                command=exc.command,
                exit_code=exc.exit_code,
                duration_ms=round(exc.duration, 3),
                output_digest=_digest(result),
            ),
        )
        raise
    except ToolError as exc:
        await _record(ctx, ToolCalledData(**base, error=str(exc)[:65536]))
        raise
    result = {"stdout": run.stdout, "stderr": run.stderr, "outputs": dict(run.outputs)}
    if run.workdir and run.workdir != invocation.cwd:  # a private copy's: the names it gave
        result["workdir"] = run.workdir
    await _record(
        ctx,
        ToolCalledData(
            **base,
            result=result,
            command=list(run.command),
            exit_code=run.exit_code,
            duration_ms=run.duration_ms,
            output_digest=_digest(result),
        ),
    )
    return run, _made_id(ctx)


def _made_id(ctx: HandlerContext) -> str:
    return ctx.emitted[-1].id


async def call_recorded(
    ctx: HandlerContext,
    tool: str,
    arguments: Any,
    read: Callable[[], Awaitable[Any]],
) -> tuple[Any, str]:
    """Make a non-deterministic in-process call (a file system read...) once, recorded.

    ``read`` must return JSON data; it is stored as the ``tool.called`` result and
    returned again on a re-drive instead of reading.

    Returns:
        The result, and the id of its ``tool.called`` event.

    Raises:
        LookupError: Re-driving, and the log has no such call.
    """
    digest = _digest({"kind": "call", "tool": tool, "arguments": arguments})
    found = _recorded(ctx, digest, tool)
    if found is not None:
        await _record(ctx, found.data)
        return found.data.result, _made_id(ctx)
    started = time.perf_counter()
    result = await read()
    duration = round((time.perf_counter() - started) * 1000, 3)
    await _record(
        ctx,
        ToolCalledData(
            agent=ctx.agent.name,
            tool=tool,
            request_digest=digest,
            arguments=arguments,
            result=result,
            duration_ms=duration,
            output_digest=_digest(result),
        ),
    )
    return result, _made_id(ctx)


def recorded_calls(events: Iterable[Event]) -> dict[str, list[ToolCalled]]:
    """The ``tool.called`` events among ``events``, by digest, in call order (for a re-drive)."""
    found: dict[str, list[ToolCalled]] = {}
    for event in events:
        if isinstance(event, ToolCalled):
            found.setdefault(event.data.request_digest, []).append(event)
    return found
