"""What to prune a component to: one frozen spec from the config to the masks.

A `PruneSpec` is created once (from a config grid, a CLI call or a path) and
read by everything after it: the workflow's paths and wildcards are its `slug`,
`prune_component` consumes it. Slugs are path-safe and parse back to the same
spec: ``magnitude-unstructured-0.5``, ``sparsegpt-2of4-0.5-conv`` (Linear and
Conv2d layers), ``wanda-unstructured-0.5-transformer``, ``sparsegpt-structured-0.3-transformer``
(30 % of every transformer block's attention heads and feed-forward units removed;
those units live in transformer blocks whatever the scope, which then only names
the layers the report measures).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sdprune.pruning.masks import UNSTRUCTURED, Pattern, parse_pattern
from sdprune.pruning.methods import PLANS, MethodChoice, parse_method

# Layer scope -> slug suffix. "linear" (the paper's choice) has none.
SCOPE_SUFFIXES = {"linear": "", "linear+conv": "-conv", "transformer": "-transformer"}
# The slug grammar, field by field: the workflow's wildcard constraints are built from these too.
FIELD_PATTERNS = {
    "method": r"[a-z][a-z0-9_]*",
    "pattern": r"unstructured|structured|[0-9]+of[0-9]+",
    "sparsity": r"0(\.[0-9]+)?",
    "scope": "|".join(re.escape(suffix) for suffix in SCOPE_SUFFIXES.values() if suffix),
}
SLUG_PATTERN = "{method}-(?:{pattern})-{sparsity}(?:{scope})?".format(**FIELD_PATTERNS)
_SLUG = re.compile("^" + "-".join(f"(?P<{name}>{FIELD_PATTERNS[name]})" for name in ("method", "pattern", "sparsity"))
                   + f"(?P<scope>{FIELD_PATTERNS['scope']})?$")


OWL_M = 7.0  # outlier threshold, times the mean score (OWL's and the paper's setting)
OWL_LAMBDA = 0.08  # spread of OWL's per-block sparsities around the target


@dataclass(frozen=True)
class OwlSettings:
    """OWL's hyperparameters: outlier threshold M (times the mean score) and the plan's spread lambda."""

    m: float = OWL_M
    lam: float = OWL_LAMBDA


def sparsity_slug(value: float) -> str:
    """Shortest stable text for a sparsity: 0.5 -> '0.5', 0.1 + 0.2 -> '0.3'."""
    return f"{float(value):.6g}"


@dataclass(frozen=True, order=True)
class PruneSpec:
    """A method (with its per-layer plan: ``owl_wanda``), a pattern, a sparsity and a layer scope."""

    method: str
    pattern: Pattern = UNSTRUCTURED
    sparsity: float = 0.5
    scope: str = "linear"

    def __post_init__(self):
        if isinstance(self.pattern, str):  # accept "2:4" / "2of4" where a Pattern is meant
            object.__setattr__(self, "pattern", parse_pattern(self.pattern))
        object.__setattr__(self, "sparsity", float(self.sparsity))
        if self.scope not in SCOPE_SUFFIXES:
            raise ValueError(f"unknown layer scope {self.scope!r} (known: {', '.join(SCOPE_SUFFIXES)})")
        if not 0 <= self.sparsity < 1:
            raise ValueError(f"sparsity {self.sparsity:g} is outside [0, 1)")
        if self.pattern.n_m and abs(self.sparsity - self.pattern.sparsity) > 1e-9:
            raise ValueError(f"pattern {self.pattern} prunes exactly {self.pattern.sparsity:g}, not {self.sparsity:g}")
        if self.pattern.sliced and self.method.partition("_")[0] in PLANS:
            raise ValueError("an OWL plan varies sparsity per layer; the structured pattern removes units per block")

    @property
    def choice(self) -> MethodChoice:
        """The plan and the base method (`owl_magnitude` -> OWL plan over magnitude)."""
        return parse_method(self.method)

    @property
    def slug(self) -> str:
        return f"{self.method}-{self.pattern.slug}-{sparsity_slug(self.sparsity)}{SCOPE_SUFFIXES[self.scope]}"

    @classmethod
    def parse(cls, slug: str) -> "PruneSpec":
        match = _SLUG.match(slug)
        if not match:
            raise ValueError(f"not a prune spec: {slug!r} (expected e.g. 'wanda-unstructured-0.5' or 'sparsegpt-2of4-0.5')")
        scope = {suffix: scope for scope, suffix in SCOPE_SUFFIXES.items()}[match["scope"] or ""]
        return cls(match["method"], parse_pattern(match["pattern"]), float(match["sparsity"]), scope)
