"""The retry arithmetic of SCORE.md and the prompt of a completion attempt."""

from __future__ import annotations

from collections.abc import Callable

from mozart_protocol.score import RetryConfig

from mozart_daemon.engine.validations import ValidationRun

COMPLETION_HEADING = "## Completion attempt"


def retry_delay(retry: RetryConfig, k: int, random: Callable[[], float]) -> float:
    """The delay before retry ``k`` (1-based): ``min(base * exp^(k-1), max)``, jittered.

    With jitter the delay is multiplied by a factor in [0.5, 1.5) (``0.5 + random()``).
    """
    delay = min(
        retry.base_delay_seconds * retry.exponential_base ** (k - 1), retry.max_delay_seconds
    )
    if retry.jitter:
        delay *= 0.5 + random()
    return delay


def qualifies_for_completion(retry: RetryConfig, run: ValidationRun | None) -> bool:
    """Enough of the applicable validations passed to ask for the rest only."""
    if run is None or run.applicable == 0 or run.fatal_error is not None:
        return False
    return run.passed_percent >= retry.completion_threshold_percent


def completion_section(run: ValidationRun) -> str:
    """What passed (keep it) and what failed (fix it), appended to the sheet's prompt."""
    passed = [r for r in run.results if r.passed]
    failed = [r for r in run.results if not r.passed]
    lines = [
        COMPLETION_HEADING,
        "",
        f"A previous attempt at this sheet passed {len(passed)} of {run.applicable} checks. "
        "Do not start over: keep what passed and fix only what failed.",
    ]
    if passed:
        lines += ["", "Passed (keep these as they are):"]
        lines += [f"- {r.description}" for r in passed]
    lines += ["", "Failed (fix these):"]
    lines += [f"- {r.description}" + (f" — {r.message}" if r.message else "") for r in failed]
    unreached = run.applicable - len(run.results)
    if unreached:
        lines.append(f"- {unreached} further check(s), run once the ones above pass")
    return "\n".join(lines) + "\n"
