"""The body of ``mlchain scan``, without typer: call the core, render, pick the exit code.

:mod:`mlchain.cli.scan` declares the command's options for typer; :mod:`mlchain.cli.fast` parses
the common invocations without typer. Both end here, so a scan behaves the same either way.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NoReturn

from mlchain.cli import console
from mlchain.cli.choices import SeverityChoice, allowed_globals
from mlchain.cli.errors import ExitCode, error_boundary, exit_with
from mlchain.errors import UsageError
from mlchain.output import OutputFormat

if TYPE_CHECKING:
    from mlchain.models import ScanReport, Severity
    from mlchain.scan.base import ScanOptions
    from mlchain.sources.hub import HubRef
    from mlchain.sources.oci import OciRef


class Executor(str, enum.Enum):
    """Values of ``--executor``."""

    LOCAL = "local"
    RAY = "ray"


def run(
    *,
    paths: list[str] | None,
    fmt: OutputFormat,
    output: Path | None,
    fail_on: SeverityChoice,
    strict: bool,
    min_severity: SeverityChoice | None,
    allow_global: list[str] | None,
    explain: bool,
    jobs: int,
    executor: Executor,
    from_file: Path | None,
    cache: Path | None,
    require_pinned: bool,
    sarif_output: Path | None,
    json_output: Path | None,
    exclude: list[str] | None,
    ignore_file: Path | None,
    config: Path | None,
    baseline: Path | None,
    junit_output: Path | None,
) -> NoReturn:
    """Run ``mlchain scan`` with its parsed options and exit with its code.

    The typer command (:func:`mlchain.cli.scan.scan`) and the fast path (:mod:`mlchain.cli.fast`)
    both call this; it never returns.
    """
    with error_boundary():
        from mlchain.scan import ScanOptions, scan_paths

        allowed = allowed_globals(allow_global)
        from mlchain.cli.review import apply_review, exclude_patterns

        options = ScanOptions(
            allow_globals=allowed,
            jobs=jobs,
            cache_dir=cache,
            exclude=exclude_patterns(exclude, ignore_file),
            executor=executor.value,
        )
        paths = list(paths or ())
        if from_file is not None:
            from mlchain.cli.scan_stream import read_from_file

            paths += read_from_file(from_file)
        if not paths:
            raise UsageError(
                "Nothing to scan.", hint="Name files or folders, or a list of them (--from-file)."
            )
        if fmt is OutputFormat.JSONL:
            _refuse_with_jsonl(explain, sarif_output, json_output, junit_output)
            from mlchain.cli.scan_stream import stream_scan

            failed = stream_scan(
                paths,
                options,
                output=output,
                config=config,
                baseline=baseline,
                fail_on=fail_on.to_severity(),
                strict=strict,
                require_pinned=require_pinned,
            )
            exit_with(ExitCode.FAIL if failed else ExitCode.OK)
        hub = _hub_reference(paths)
        local: list[Path] = []
        oci = _oci_reference(paths)
        cached = _offline_snapshot(hub) if hub is not None else None
        if cached is not None:
            assert hub is not None
            console.info(f"HF_HUB_OFFLINE is set: scanning {hub.uri} from the cache at {cached}")
            hub, paths = None, [str(cached)]
        if oci is not None:
            if explain:
                raise UsageError("--explain works on local files; pull the model first.")
            report = _scan_oci(oci, options, require_pinned=require_pinned)
        elif hub is not None:
            if explain:
                raise UsageError("--explain works on local files; download the model first.")
            from mlchain.sources.hub import scan_hub

            report, materialized = scan_hub(
                hub,
                options,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
                require_pinned=require_pinned,
            )
            console.info(f"resolved {hub.uri} to commit {materialized.commit}")
        else:
            local = _check_paths(paths)
            report = scan_paths(local, options, progress=_progress_callback())
        report, expired = apply_review(report, config, baseline)
        gate = fail_on.to_severity()
        color = output is None and console.stdout_is_color_terminal()
        repository = _repository()
        formatter = fmt.formatter(
            color=color,
            fail_on=gate,
            strict=strict,
            repository=repository,
            width=console.stdout_width() if output is None else 120,
            min_severity=min_severity.to_severity() if min_severity is not None else None,
        )
        console.write_output(formatter.render(report), output)
        extra = {
            OutputFormat.SARIF: sarif_output,
            OutputFormat.JSON: json_output,
            OutputFormat.JUNIT: junit_output,
        }
        for extra_fmt, target in extra.items():
            if target is not None:
                text = extra_fmt.formatter(
                    fail_on=gate, strict=strict, repository=repository
                ).render(report)
                console.write_output(text, target)
        _github_step_summary(report, gate)
        from mlchain.output.table import summary_line

        console.info(summary_line(report))
        if explain:
            _explain(local, options, to_stderr=output is None and fmt is not OutputFormat.TABLE)
    failed = report.exceeds(fail_on.to_severity(), strict=strict) or expired > 0
    if strict and report.not_scanned and not report.exceeds(fail_on.to_severity()):
        first = report.not_scanned[0]
        console.error(
            f"--strict: {len(report.not_scanned)} file(s) were not scanned (for example "
            f"{first.location.display()}: {first.skipped}), so the scan fails. Leave them out with "
            "--exclude or .mlchainignore if they are expected (empty __init__.py, .gitkeep), or "
            "drop --strict."
        )
    exit_with(ExitCode.FAIL if failed else ExitCode.OK)


def _refuse_with_jsonl(explain: bool, *reports: Path | None) -> None:
    """``-f jsonl`` streams and keeps no report: refuse what needs one."""
    if explain or any(r is not None for r in reports):
        raise UsageError(
            "-f jsonl streams results and keeps no whole report, so it cannot be combined with "
            "--explain, --sarif-output, --json-output or --junit-output.",
            hint="Run a second scan for those (with --cache, the second one reads no file again).",
        )


def _repository() -> tuple[PurePosixPath, PurePosixPath]:
    """The repository root SARIF URIs are relative to, and the current folder (both absolute).

    ``GITHUB_WORKSPACE`` when GitHub Actions sets it, else the nearest folder above the current
    one that holds ``.git``, else the current folder.
    """
    cwd = Path.cwd()
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        root = Path(workspace).absolute()
    else:
        root = next((p for p in (cwd, *cwd.parents) if (p / ".git").exists()), cwd)
    return PurePosixPath(root.as_posix()), PurePosixPath(cwd.as_posix())


def _github_step_summary(report: ScanReport, gate: Severity | None) -> None:
    """Append a Markdown summary to ``$GITHUB_STEP_SUMMARY`` when GitHub Actions sets it."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from mlchain.output.github import job_summary

    try:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(job_summary(report, fail_on=gate))
    except OSError as exc:  # the summary is a courtesy: never fail the scan over it
        console.info(f"warning: cannot append the job summary to {target}: {exc.strerror}")


def _explain(paths: list[Path], options: object, *, to_stderr: bool) -> None:
    """Print fickling decompilations; stdout unless a machine-readable report is there."""
    import sys

    from mlchain.scan.base import ScanOptions
    from mlchain.scan.pickle.explain import explain_paths, render_explanations

    assert isinstance(options, ScanOptions)
    text = render_explanations(explain_paths(paths, options))
    stream = sys.stderr if to_stderr else sys.stdout
    stream.write(text)
    stream.flush()


def _oci_reference(args: list[str]) -> OciRef | None:
    if not any(a.startswith("oci://") for a in args):
        return None
    if len(args) > 1:
        raise UsageError("Scan one oci:// reference at a time, without local paths beside it.")
    from mlchain.sources.oci import parse_oci_uri

    return parse_oci_uri(args[0])


def _scan_oci(ref: OciRef, options: ScanOptions, *, require_pinned: bool) -> ScanReport:
    from mlchain.sources.oci_auth import docker_config_paths
    from mlchain.sources.oci_client import client_for
    from mlchain.sources.oci_model import check_pinned, scan_oci

    check_pinned(ref, require_pinned)
    client = client_for(ref, docker_config_paths(os.environ, Path.home()))
    report, pulled = scan_oci(client, ref, options, require_pinned=require_pinned)
    if ref.digest is None:
        console.info(f"resolved {ref.uri} to {pulled.manifest.digest}")
    return report


def _offline_snapshot(hub: HubRef) -> Path | None:
    """With ``HF_HUB_OFFLINE`` set, the cached snapshot of ``hub``, or an error saying where.

    The cache is ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in {"1", "true", "yes", "on"}:
        return None
    from mlchain.errors import NetworkError
    from mlchain.sources.hfcache import cached_snapshot

    if os.environ.get("HF_HUB_CACHE"):
        root = Path(os.environ["HF_HUB_CACHE"])
    elif os.environ.get("HF_HOME"):
        root = Path(os.environ["HF_HOME"]) / "hub"
    else:
        root = Path.home() / ".cache" / "huggingface" / "hub"
    snapshot = cached_snapshot(root, hub.repo_id, hub.revision)
    if snapshot is None:
        raise NetworkError(
            f"HF_HUB_OFFLINE is set and the cache at {root} holds no snapshot of {hub.uri}.",
            hint="Download it first (huggingface-cli download), point HF_HUB_CACHE or HF_HOME at "
            "the cache that holds it, or unset HF_HUB_OFFLINE.",
        )
    return snapshot / hub.subpath if hub.subpath else snapshot


def _hub_reference(args: list[str]) -> HubRef | None:
    if any(a.startswith("oci://") for a in args):
        return None
    if not any(a.startswith(("hf://", "http://", "https://")) for a in args):
        return None  # local paths only: skip importing the Hub source (~9 ms)
    from mlchain.sources.hub import parse_hub_uri

    refs = [parse_hub_uri(a) for a in args]
    hub = [r for r in refs if r is not None]
    if not hub:
        return None
    if len(args) > 1:
        raise UsageError("Scan one hf:// reference at a time, without local paths beside it.")
    return hub[0]


def _check_paths(args: list[str]) -> list[Path]:
    if any(a.startswith("oci://") for a in args):
        from mlchain.cli.scan_stream import refuse_oci

        refuse_oci(next(a for a in args if a.startswith("oci://")))
    paths = [Path(a) for a in args]
    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:
        raise UsageError(
            f"No such file or directory: {', '.join(missing)}.",
            hint="Check the path; mlchain scans local files and folders and hf:// references.",
        )
    return paths


def _progress_callback() -> Callable[[int, int], None] | None:
    """Return a progress callback drawing on stderr when it is a terminal, else ``None``."""
    from mlchain.cli.progress import scan_counter

    return scan_counter()
