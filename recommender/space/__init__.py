"""Whole-answer-space analysis of rule sets, vectorised with numpy: explore one, diff two, check monotonicity.

Modules, one per concern: `reports` (report dataclasses, Share, wilson, their JSON), `compile` (rules → factor
model), `kernel` (grid and sample evaluation), `checks` (dead weight, idle rows, never fire or win), `examples`
(typical questionnaires), `survey` (explore), `compare` (diff), `ordering` (monotonicity), `text` (CLI text).
"""

from .compare import diff
from .compile import SpaceTooLargeError
from .kernel import DEFAULT_BUDGET, DEFAULT_SAMPLE, DEFAULT_SEED
from .ordering import monotonicity
from .reports import DiffReport, ExploreReport, MonotonicityReport, Share, wilson
from .survey import explore
from .text import diff_text, explore_text, monotonicity_text

__all__ = ["DEFAULT_BUDGET", "DEFAULT_SAMPLE", "DEFAULT_SEED", "DiffReport", "ExploreReport", "MonotonicityReport",
           "Share", "SpaceTooLargeError", "diff", "diff_text", "explore", "explore_text", "monotonicity",
           "monotonicity_text", "wilson"]
