"""Read the rules file by content, and judge a new version in a child process within a CPU time and memory budget.

The serving process never parses a version nobody has checked: `check_in_child` runs this module
(`python -m web.rules_check`), which loads the bytes it reads on stdin, runs the golden scenarios and prints one JSON
verdict. A file that is slow or huge to load costs the child its budget, never a worker its requests. The child
imports the core only (no Flask), so it starts in about 0.3 s.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import random
import resource
import signal
import stat
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from recommender import RuleSet, evaluate, explain
from recommender.errors import RulesError, RulesIssue, RulesSyntaxError
from recommender.loader import validate_source
from recommender.outlook import warm
from recommender.scenarios import run_scenarios
from recommender.source import MAX_BYTES, parse_source

ROOT = Path(__file__).resolve().parent.parent
# What serving one questionnaire (evaluate, explain, the JSON document) may cost with a new version, in CPU
# milliseconds, median over the golden scenarios and seeded random answer sets: a version within every size limit can
# still make each request slow (many `any:`/`not:` alternatives per rule), and a worker serves requests one at a time.
SERVE_BUDGET_MS = 20.0
SERVE_SAMPLES = 48
PR_SET_PDEATHSIG = 1
NICENESS = 5  # the child yields some of the CPU to the workers serving requests
# The time budget is CPU time, so that a verdict does not depend on how busy the machine is; a child still running
# after this many times the budget in wall-clock time (a starved machine) is stopped, and its version looked at again.
WALL_CLOCK_FACTOR = 5

FILE_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device",
              stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


@dataclass(frozen=True)
class Budget:
    """What checking one version may cost: CPU seconds and address space (bytes)."""

    seconds: float = 20.0
    memory: int = 1024 * 1024 * 1024

    @property
    def memory_mib(self) -> int:
        return self.memory // (1024 * 1024)


@dataclass(frozen=True)
class Verdict:
    """Whether a version of the rules may be served; if not, why (the first MAX_REPORTED_ISSUES lines, then a count)."""

    ok: bool
    fingerprint: str | None = None
    errors: tuple[str, ...] = ()
    omitted: int = 0
    omitted_line: str | None = None  # e.g. "… and 1,454 more errors (the first 50 are shown)"
    seconds: float = 0.0
    final: bool = True  # False: no verdict on the content itself (the machine was too busy): look at it again

    def as_json(self) -> dict:
        return {"ok": self.ok, "fingerprint": self.fingerprint, "errors": list(self.errors), "omitted": self.omitted,
                "omitted_line": self.omitted_line, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, value: dict) -> Verdict:
        line = value.get("omitted_line")
        return cls(bool(value["ok"]), value.get("fingerprint"), tuple(str(line) for line in value.get("errors", ())),
                   int(value.get("omitted", 0)), str(line) if line else None, float(value.get("seconds", 0.0)))

    @classmethod
    def refused(cls, error: RulesError, seconds: float = 0.0) -> Verdict:
        """The verdict for a RulesError: its issues (it keeps the first MAX_REPORTED_ISSUES), and how many more."""
        return cls(False, None, tuple(str(issue) for issue in error.issues), error.omitted, error.omitted_line, seconds)

    def log_lines(self) -> list[str]:
        """The errors as the log shows them: each line, then how many more there were."""
        return [*self.errors, *([self.omitted_line] if self.omitted_line else [])]


def problem(name: str, message: str, hint: str | None = None) -> RulesError:
    """A problem with the file as a whole, reported at its first line like every other rules error."""
    return RulesSyntaxError([RulesIssue(name, 1, 1, (), message, hint)])


class NotRegularFileError(OSError):
    """Something other than a regular file is at the path; `kind` says what."""

    def __init__(self, path: str | os.PathLike, kind: str):
        super().__init__(f"{path} is not a regular file ({kind})")
        self.kind = kind


def read_regular_file(path: str | os.PathLike, limit: int, *, follow_links: bool = True) -> bytes:
    """At most `limit` + 1 bytes of a regular file, so that a caller can tell a file over its limit; raise OSError
    (NotRegularFileError for a FIFO, device, directory or socket). Opened without blocking, so a FIFO put at the path
    is refused instead of hanging the reader."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    descriptor = os.open(path, flags)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, FILE_KINDS.get(stat.S_IFMT(mode), "not a file"))
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(descriptor, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def read_rules_file(path: str, name: str) -> bytes:
    """The file's bytes (at most MAX_BYTES + 1 of them); raise RulesError when it cannot be read or is no regular file.

    Symbolic links are followed (a Kubernetes ConfigMap swaps a `..data` link).
    """
    try:
        return read_regular_file(path, MAX_BYTES)
    except NotRegularFileError as error:
        raise problem(name, f"not a regular file ({error.kind}): Dockwise reads rules only from a regular file",
                      f"put the rules file itself at {path}") from None
    except OSError as error:
        raise problem(name, f"cannot read the file: {error.strerror or error}",
                      "check that the file exists and that Dockwise may read it") from None


def check_in_child(data: bytes, name: str, budget: Budget, covered: frozenset[str] = frozenset()) -> Verdict:
    """Judge `data` in a child process: loaded, every golden scenario passing, and still a golden scenario for each
    option in `covered` (the options the rules being served have one for). Never raises."""
    command = [sys.executable, "-m", "web.rules_check", "--parent", str(os.getpid()), "--name", name,
               "--memory", str(budget.memory), "--seconds", f"{budget.seconds:g}",
               "--covered", ",".join(sorted(covered))]
    # One thread for numpy's BLAS: its per-thread arenas would otherwise count against the memory budget.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    wall_clock = WALL_CLOCK_FACTOR * budget.seconds + 10
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=wall_clock, cwd=ROOT, env=env,
                              check=False)
    except subprocess.TimeoutExpired:  # run() has killed the child
        verdict = Verdict.refused(problem(
            name, f"checking this version did not end within {wall_clock:g} s (the machine is busy), so it is not "
                  "served yet", "it is checked again at the next look"), time.monotonic() - started)
        return Verdict(False, None, verdict.errors, seconds=verdict.seconds, final=False)
    except OSError as error:
        return Verdict.refused(problem(name, f"could not start the rules check: {error}"), time.monotonic() - started)
    seconds = time.monotonic() - started
    try:
        verdict = Verdict.from_json(json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1]))
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
        # Killed by a signal (SIGKILL, or SIGXCPU at the CPU backstop) or out of memory inside C code.
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        how = tail[0][:300] if tail else f"exit status {done.returncode}"
        return Verdict.refused(problem(
            name, f"the rules check stopped without a verdict ({how}), so this version is not served",
            f"it may need more than the reload budget of {budget.memory_mib} MiB or {budget.seconds:g} s: make the "
            "file smaller, or raise DOCKWISE_RULES_RELOAD_MEMORY_MB and restart"), seconds)
    return Verdict(verdict.ok, verdict.fingerprint, verdict.errors, verdict.omitted, verdict.omitted_line, seconds)


# --- the child ------------------------------------------------------------------------------------------------------

class OverBudgetError(BaseException):
    """The check used up its CPU time budget (a BaseException: no `except Exception` in the loader may swallow it)."""


def judge(data: bytes, name: str, covered: frozenset[str]) -> Verdict:
    """Load `data` and run its golden scenarios (in the child): the verdict the serving process acts on."""
    started = time.monotonic()
    try:
        source = parse_source(data, name)
        ruleset = validate_source(source)
    except RulesError as error:
        return Verdict.refused(error, time.monotonic() - started)
    issues = []
    for index, outcome in enumerate(run_scenarios(ruleset)):
        if not outcome.passed:
            expected = " or ".join(f"'{option}'" for option in outcome.scenario.expect)
            issues.append(source.issue(
                ("scenarios", index, "expect"),
                f"golden scenario '{outcome.scenario.name}' expects {expected}, but these rules recommend "
                f"'{outcome.winner}', so this version is not served",
                "fix the rules or the scenario; `flask rules test` shows the ranking"))
    expected_somewhere = {option for scenario in ruleset.scenarios for option in scenario.expect}
    for option in ruleset.options:
        if option.id in covered and option.id not in expected_somewhere:
            issues.append(source.issue(
                ("scenarios",),
                f"no golden scenario expects '{option.id}': a reload needs one for every option the rules being "
                "served have one for, so a truncated or half-written file is not served",
                "finish saving the file, or add a scenario that expects it; to drop the option's last scenario on "
                "purpose, restart Dockwise (a start-up serves any valid file)"))
    if issues:
        return Verdict.refused(RulesError(issues), time.monotonic() - started)
    cost = serving_cost_ms(ruleset)
    if cost > SERVE_BUDGET_MS:
        slow = source.issue(
            ("rules",), f"answering one questionnaire takes {cost:.0f} ms of CPU with these rules (the median of "
                        f"{SERVE_SAMPLES} questionnaires; the reload budget is {SERVE_BUDGET_MS:g} ms), so this "
                        "version is not served",
            "use fewer rules or simpler conditions: each alternative of an `any:` or `not:` is checked per request")
        return Verdict.refused(RulesError([slow]), time.monotonic() - started)
    return Verdict(True, ruleset.fingerprint, seconds=time.monotonic() - started)


def serving_cost_ms(ruleset: RuleSet) -> float:
    """The median CPU time, in ms, of answering one questionnaire (evaluate, explain, JSON) under `ruleset`: the golden
    scenarios' answers, then seeded random ones (each question one of its choices or unanswered)."""
    warm(ruleset)  # built once per version when a worker loads it, not per request
    rng = random.Random(SERVE_SAMPLES)
    samples = [scenario.answers for scenario in ruleset.scenarios][:SERVE_SAMPLES // 2]
    while len(samples) < SERVE_SAMPLES:
        samples.append({q.id: c.id for q in ruleset.questions
                        if (c := rng.choice((None, *q.choices))) is not None})
    costs = []
    for answers in samples:
        started = time.process_time()
        explain(evaluate(ruleset, answers)).as_json()
        costs.append(time.process_time() - started)
    return statistics.median(costs) * 1000


def limit_child(budget: Budget) -> None:
    """Cap the child's address space, lower its priority, and stop the check after `budget.seconds` of CPU time
    (SIGPROF; the kernel's RLIMIT_CPU kills it a little later should a long call into C delay the signal)."""
    def over_budget(signum, frame):
        raise OverBudgetError

    resource.setrlimit(resource.RLIMIT_AS, (budget.memory, budget.memory))
    cpu = int(budget.seconds + time.process_time()) + 3
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    os.nice(NICENESS)
    signal.signal(signal.SIGPROF, over_budget)
    signal.setitimer(signal.ITIMER_PROF, budget.seconds)


def die_with_parent(parent: int) -> None:
    """Have the kernel stop this check when the worker that started it exits (a worker killed mid-check would
    otherwise leave it running out its budget)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it exited before the request took effect
        sys.exit(1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Judge a rules file read on stdin; print one JSON verdict.")
    parser.add_argument("--parent", type=int, default=0, help="the worker's pid: the check ends if it exits")
    parser.add_argument("--name", default="rules.yaml", help="the file's name in messages")
    parser.add_argument("--memory", type=int, default=Budget.memory, help="address space limit in bytes")
    parser.add_argument("--seconds", type=float, default=Budget.seconds, help="CPU time budget")
    parser.add_argument("--covered", default="", help="comma-separated options that need a golden scenario")
    args = parser.parse_args(argv)
    if args.parent:
        die_with_parent(args.parent)
    data = sys.stdin.buffer.read(MAX_BYTES + 1)
    covered = frozenset(option for option in args.covered.split(",") if option)
    limit_child(Budget(args.seconds, args.memory))
    try:
        verdict = judge(data, args.name, covered)
    except OverBudgetError:
        verdict = Verdict.refused(problem(
            args.name, f"checking this version took more than {args.seconds:g} s of CPU time, the reload budget, so "
                       "it is not served", "make the file smaller or its conditions simpler, or raise "
                                           "DOCKWISE_RULES_RELOAD_SECONDS and restart"))
    except MemoryError:
        verdict = Verdict.refused(problem(
            args.name, f"checking this version needs more memory than the reload budget of "
                       f"{Budget(memory=args.memory).memory_mib} MiB, so it is not served",
            "make the file smaller, or raise DOCKWISE_RULES_RELOAD_MEMORY_MB and restart"))
    except Exception as error:  # a bug in loading must not take the site down either: refuse, and say what broke
        verdict = Verdict.refused(problem(args.name, f"could not be loaded: {error!r}"))
    signal.setitimer(signal.ITIMER_PROF, 0)  # judged: printing the verdict is not part of the budget
    print(json.dumps(verdict.as_json()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
