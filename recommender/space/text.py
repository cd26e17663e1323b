"""The reports as `flask rules explore|diff|check` print them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .reports import DiffReport, ExploreReport, MonotonicityReport, Share, ViolationKind


def _percent(share: Share) -> str:
    """Two decimals, with the Wilson interval in brackets for a sampled share."""
    return f"{100 * share.share:6.2f} %" + _interval(share, lambda percent: f"{percent:.2f}")


def _interval(share: Share, number) -> str:
    """' [low–high]' in percent, each written by `number`, for a sampled share; '' for an exact one."""
    if share.interval is None:
        return ""
    low, high = share.interval
    return f" [{number(100 * low)}–{number(100 * high)}]"


def _names(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "none"


# --- monotonicity --------------------------------------------------------------------------------------------


def _number(percent: float) -> str:
    """Three significant digits, never in exponent notation (violation shares can be tiny)."""
    return np.format_float_positional(percent, precision=3, fractional=False, trim="-")


def _short_percent(share: Share) -> str:
    """Three significant digits, with the Wilson interval in brackets for a sampled share."""
    return f"{_number(100 * share.count / share.total) if share.total else 0} %" + _interval(share, _number)


def _exempt_text(report: MonotonicityReport) -> str:
    return f"exempt: {', '.join(report.exempt)} (ordered: false)" if report.exempt else "exempt: none"


def kind_text(kind: ViolationKind) -> str:
    """One line per kind of violation, as `flask rules check` and explore print it."""
    share = kind.share
    where = ("sampled " if share.sampled else "") + ("questionnaire" if share.count == 1 else "questionnaires")
    return (f"{kind.question}: {kind.source} → {kind.target} makes the recommendation lighter "
            f"({kind.heavier} → {kind.lighter}) in {share.count:,} {where} "
            f"({_short_percent(share)} of those with {kind.question}={kind.source}), e.g. {kind.example}")


def monotonicity_text(report: MonotonicityReport) -> str:
    """The summary line, then one indented line per kind of violation."""
    n = report.count
    found = f"{n:,} violation{'' if n == 1 else 's'}"
    if report.exhaustive:
        if n:
            found += f" ({_short_percent(report.violations)} of the pairs)"
        line = (f"Monotonicity: {found} — every ordered question, every adjacent pair of choices, over every "
                f"combination of the other answers ({report.space:,} questionnaires; {report.pairs:,} pairs) "
                f"in {report.seconds:.1f} s; {_exempt_text(report)}")
    else:
        line = (f"Monotonicity (SAMPLED): {found} in {report.pairs:,} sampled pairs, "
                f"{_short_percent(report.violations)} with its 95 % confidence interval (Wilson) — "
                f"{report.evaluated:,} of {report.space:,} questionnaires drawn uniformly at random "
                f"(seed {report.seed}), each compared with the next choice of every ordered question it answers "
                f"below the last, in {report.seconds:.1f} s; a sample, so no violation found here does not prove "
                f"there is none (a budget of {report.space:,} or more checks every one); {_exempt_text(report)}")
    return "\n".join([line, *(f"  {kind_text(kind)}" for kind in report.kinds)])


# --- explore -------------------------------------------------------------------------------------------------


def explore_text(report: ExploreReport) -> str:
    """The explore report as the CLI prints it."""
    out = [f"{report.file} (fingerprint {report.fingerprint}): {report.options} options, "
           f"{report.questions} questions, {report.rules} rules",
           f"Answer space: {report.space:,} combinations (each question one of its choices or unanswered), "
           f"{report.full_space:,} of them fully answered."]
    if report.exhaustive:
        out.append(f"Evaluated every combination in {report.seconds:.2f} s ({report.rate / 1e6:.1f} million/s); "
                   f"checks took {report.check_seconds:.2f} s.")
        where = "combinations"
    else:
        out.append(f"SAMPLED: the space is larger than the budget, so {report.evaluated:,} combinations and "
                   f"{report.full_evaluated:,} fully answered ones were drawn uniformly at random (seed {report.seed}) "
                   f"in {report.seconds:.2f} s; checks took {report.check_seconds:.2f} s.")
        out.append("Every share is an estimate with its 95 % confidence interval (Wilson) in brackets; findings "
                   "below hold for the sampled combinations only.")
        where = "sampled combinations"
    out += ["", "Wins (share of the space / of fully answered questionnaires):"]
    width = max(len(f"{s.label} ({s.id})") for s in report.shares)
    for share, full in zip(report.shares, report.full_shares):
        out.append(f"  {f'{share.label} ({share.id})':<{width}}  {_percent(share)}   {_percent(full)}")
    out += ["", f"Closeness (lead of the winner over the runner-up; close means below {report.close_points:g} points):"]
    out += [f"  {share.label:<28} {_percent(share)}" for share in report.closeness]
    if report.close_pairs:
        out.append("  ties and close calls by pair:")
        out += [f"    {share.id:<26} {_percent(share)}" for share in report.close_pairs]
    out += ["", f"Rules that never fire: {_names(report.never_fire)}",
            f"Dead weight (fires, but removing the rule changes no winner in the {where}): "
            f"{_names(report.dead_weight)}"]
    if report.dead_weight_unchecked:
        out.append(f"  not checked within the time budget: {_names(report.dead_weight_unchecked)}")
    out.append(f"Rows that never drive a result (never give the winner more points than the runner-up "
               f"in the {where}): {_names(report.idle_rows)}")
    if report.idle_rows_unchecked:
        out.append(f"  not checked within the time budget: {_names(report.idle_rows_unchecked)}")
    out.append(f"Options that never win{'' if report.exhaustive else ' in the sample'}: {_names(report.never_win)}")
    if report.monotonicity is not None:
        out += ["", monotonicity_text(report.monotonicity)]
    if report.unmet_needs is not None:
        out.append(f"The recommendation leaves a need an answer states unmet in "
                   f"{_percent(report.unmet_needs).strip()} of the {where} ({report.unmet_needs.count:,}).")
    out += ["", f"Answers most often in a tie or close call (share of the {where} with that answer):"]
    out += [f"  {share.id:<28} {_percent(share)}" for share in report.close_answers] or ["  none"]
    out += ["", f"Closest calls (fully answered, ties and close calls, smallest lead first, then questionnaire "
                f"order; {report.full_close:,} such {'questionnaires' if report.exhaustive else 'in the sample'}):"]
    for call in report.closest:
        relation = "tie with" if call.closeness == "tie" else f"by {call.lead:g} over"
        out.append(f"  {call.winner} {relation} {call.runner_up}: {call.example.query}")
    if not report.closest:
        out.append("  none")
    out += ["", "Typical questionnaire each option wins (fewest unanswered, then questionnaire order):"]
    for option, example in report.typical:
        if example is None:
            out.append(f"  {option}: never wins")
        else:
            out.append(f"  {option} ({example.unanswered} unanswered): {example.query}")
    return "\n".join(out)


# --- diff ----------------------------------------------------------------------------------------------------


def _diff_checks_text(report: DiffReport) -> list[str]:
    """Monotonicity violations and unmet needs, old → new, each over its own file's answer space."""
    change = report.monotonicity_change()
    if change is None:
        return []

    def count(key: str) -> str:
        return f"{change[key]:,}" + (" (sampled)" if change[f"{key}_mode"] == "sample" else "")
    out = ["", f"Monotonicity violations (a more demanding answer gives a lighter recommendation; each file over "
               f"its own answer space): {count('old')} → {count('new')}"]
    out += [f"  appears:    {kind_text(kind)}" for kind in change["appeared"]]
    out += [f"  disappears: {kind_text(kind)}" for kind in change["disappeared"]]
    unmet = report.unmet_needs_change()
    if unmet is not None:
        out.append(f"The recommendation leaves a need an answer states unmet in "
                   f"{_percent(unmet['old']).strip()} → {_percent(unmet['new']).strip()} of questionnaires.")
    if report.needs_edited:
        out.append(f"Stated needs edited ({len(report.needs_edited)}):")
        out += [f"  {edit.change}: {edit.question}={edit.choice}, {edit.option}: "
                + (f"“{edit.new}”" if edit.old is None else f"“{edit.old}”" if edit.new is None
                   else f"“{edit.old}” → “{edit.new}”") for edit in report.needs_edited]
    return out


def diff_text(report: DiffReport) -> str:
    """The diff report as the CLI prints it."""
    out = [f"{report.old_file} ({report.old_fingerprint}) → {report.new_file} ({report.new_fingerprint})"]
    for label, side, other in (("old", report.only_old, report.new_file), ("new", report.only_new, report.old_file)):
        file = report.old_file if label == "old" else report.new_file
        if side.get("questions"):
            out.append(f"Only in {file}: question(s) {', '.join(side['questions'])} — compared as unanswered "
                       f"(not in {other}).")
        if side.get("choices"):
            out.append(f"Only in {file}: choice(s) {', '.join(side['choices'])} — not compared.")
        if side.get("options"):
            out.append(f"Only in {file}: option(s) {', '.join(side['options'])}.")
    if report.exhaustive:
        out.append(f"Compared every one of {report.space:,} combinations of the answers both understand "
                   f"({len(report.questions)} questions) in {report.seconds:.2f} s.")
    else:
        out.append(f"SAMPLED: {report.evaluated:,} of {report.space:,} combinations of the answers both understand, "
                   f"drawn uniformly at random (seed {report.seed}) in {report.seconds:.2f} s; 95 % confidence "
                   f"intervals (Wilson) in brackets.")
    out.append(f"Recommendation changes in {_percent(report.changed).strip()} of them "
               f"({report.changed.count:,}{' sampled' if not report.exhaustive else ''}).")
    out += ["", "From → to (share of all compared combinations):"]
    for flip in sorted(report.matrix, key=lambda f: (f.source == f.target, -f.share.count)):
        marker = "  " if flip.source == flip.target else "* "
        out.append(f"  {marker}{flip.source + ' → ' + flip.target:<28} {_percent(flip.share)}  ({flip.share.count:,})")
    if report.flips:
        out += ["", "Typical examples of each flip (fewest unanswered, then questionnaire order):"]
        for flip in sorted(report.flips, key=lambda f: -f.share.count):
            out.append(f"  {flip.source} → {flip.target}:")
            out += [f"    {example.query or '(nothing answered)'}" for example in flip.examples]
    out += _diff_checks_text(report)
    out += ["", f"Scenarios whose result changes ({len(report.scenarios)} of {report.scenarios_compared}):"]
    for change in report.scenarios:
        note = f"  (ignored: {', '.join(change.ignored)})" if change.ignored else ""
        out.append(f"  {change.name}: {change.source} → {change.target}{note}")
    if not report.scenarios:
        out.append("  none")
    return "\n".join(out)
