"""Which pairs a budgeted SAT run evaluates: a seeded design that reaches every model, then active rounds.

A budget is a number of evaluation units out of the N^2 of a full run. The N
diagonal units (each model on its own adversarial images: its white-box
success) always run; the rest buys unordered pairs, each 2 evaluations (both
directions share X_AB and pool into one SAT value):

    pairs_in_budget(n, evaluations) = (evaluations - N - pilot) // 2, at most N (N - 1) / 2
    budget_evaluations(n, spec)     = spec x N^2 for a fraction in (0, 1], spec itself for a count above 1

where `pilot` is what a pilot costs in evaluations (`archsim.sat.pilot`: every
ordered pair on a share f of the images, N (N - 1) f; 0 without one).

The pairs come in a fixed order, so that a larger budget chooses a superset of
a smaller one's pairs and a resumed run chooses what an uninterrupted one did:

1. the design (`design`): MATCHINGS seeded random matchings of the models (a
   model left over when N is odd joins a random other), the first of which
   gives every model an observed pair; the smallest budget is that matching;
2. active rounds of ROUND_PAIRS(N) = ceil(N / 2) pairs (`next_pairs`), each
   chosen from the completion of the pairs observed so far
   (`archsim.sat.completion`, with the covariate when one is given; its fit
   chosen by cross-validation in the first round and every REFIT_ROUNDS after). A round takes pairs alternately
   from two queues: the unobserved pairs that could most become a model's near
   neighbour, by the largest margin

       margin_ij = fit_ij + 2 spread_ij - min(kth_i, kth_j)

   (spread: the disagreement of the cross-validation folds' fits; kth_i: the
   NEIGHBOURS-th largest completed value of row i), and the pairs of the
   models with the fewest observed pairs (keeping every row informed). Ties go
   to a seeded order; a truncated last round is a prefix of the full round, so
   the chosen pairs of any budget are a prefix of a larger budget's. On the SAT
   paper's 69 x 69 matrix (docs/pair-budget.md) this rule does not beat random
   pairs after the same design: at 40% of the evaluations all-pairs Spearman
   0.962 against 0.965, ARI 0.58 against 0.64 (better ARI at 20 and 30%); two
   other rules lost more (by the folds' spread alone: 0.947, 0.39).

`choose(values_of, n, n_pairs, seed, active)` runs the rounds against any
source of pair values (a stored run, or a known matrix in a simulation) and
returns the pairs in the order chosen; with `active=False` the rounds take
seeded random pairs instead (the baseline). Adding models to a run (`given`:
the pairs the store has among the others; `candidates`: the pairs with an
added model) runs the same rounds over the added models' pairs: the design's
matchings give each added model up to MATCHINGS partners, then active rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from archsim.errors import ArchsimError
from archsim.sat.completion import Fit, choose_fit, complete_sat

MATCHINGS = 4  # random matchings in the design: every model in about this many observed pairs
NEIGHBOURS = 3  # the margin is against the 3rd nearest neighbour of each row
REFIT_ROUNDS = 4  # the completion's shrinkage is chosen again by cross-validation every 4 rounds


def round_pairs(n: int) -> int:
    """Pairs chosen per active round: ceil(N / 2)."""
    return max(1, math.ceil(n / 2))


def budget_evaluations(total: int, spec: float) -> int:
    """The evaluation units a `--pairs` value buys out of `total` (N^2 for a run, 2Nk + k^2 for k models added
    to N): a fraction in (0, 1] of `total`, or a count above 1 (capped at `total`). ArchsimError otherwise."""
    if isinstance(spec, bool) or not isinstance(spec, (int, float)) or math.isnan(spec) or not spec > 0:
        raise ArchsimError(f"--pairs must be a fraction in (0, 1] of the N^2 evaluations or a whole number of "
                           f"evaluations above 1; got {spec!r}")
    if spec <= 1:
        return math.floor(spec * total + 1e-9)
    if spec != int(spec):
        raise ArchsimError(f"--pairs above 1 is a number of evaluations and must be whole; got {spec!r}")
    return min(int(spec), total)


def pairs_in_budget(n: int, evaluations: int, *, added: int = 0, pilot: float = 0.0) -> int:
    """Unordered pairs that `evaluations` units buy beside the diagonal ones and a `pilot` of that many
    evaluations' cost, for a run of n models (`added` = 0) or for `added` models added to n - added. ArchsimError
    when that cannot give each model (each added model) an observed pair: ceil(n / 2) pairs (`added` pairs)."""
    if n < 3:
        raise ArchsimError(f"--pairs completes a matrix from some of its pairs and needs at least 3 models; got {n}")
    k = added or n
    pairs_total = n * (n - 1) // 2 - (n - k) * (n - k - 1) // 2
    least_pairs = added or math.ceil(n / 2)
    least = math.ceil(k + 2 * least_pairs + pilot - 1e-9)
    if evaluations < least:
        whole = k * k + 2 * k * (n - k)
        who = f"each of the {k} models" if not added else f"each of the {k} added model(s)"
        spent = f" + {pilot:.4g} for the pilot" if pilot else ""
        raise ArchsimError(f"a budget of {evaluations} evaluations is too small to give {who} an observed pair: "
                           f"it needs at least {least} ({k} white-box + 2 x {least_pairs} pairs{spent}), "
                           f"{least / whole:.1%} of the {whole}")
    return min(int((evaluations - k - pilot + 1e-9) // 2), pairs_total)


def design(n: int, seed: int) -> list[tuple[int, int]]:
    """MATCHINGS seeded random matchings, in order, without repeated pairs (i < j in each)."""
    rng = np.random.default_rng([seed, n])
    seen: set[tuple[int, int]] = set()
    out = []
    for _ in range(MATCHINGS):
        order = rng.permutation(n)
        pairs = [tuple(sorted((int(order[k]), int(order[k + 1])))) for k in range(0, n - 1, 2)]
        if n % 2:
            last = int(order[-1])
            pairs.append(tuple(sorted((last, int(rng.choice(np.delete(np.arange(n), last)))))))
        for p in pairs:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def next_pairs(values: np.ndarray, observed: np.ndarray, k: int, *, seed: int, allowed: np.ndarray | None = None,
               fit: Fit | None = None, covariate: np.ndarray | None = None) -> list[tuple[int, int]]:
    """k unobserved pairs (among those `allowed` marks at i < j, default all), alternately the next by the
    largest margin and the next of the models with the fewest observed pairs (module docstring), given the
    observed `values`; `covariate` and `fit` as `complete_sat` takes them. A smaller k gives a prefix of a larger
    one's pairs."""
    completion = complete_sat(values, observed, covariate=covariate, fit=fit, seed=seed)
    fit, spread = completion.values, completion.spread
    n = len(values)
    off = ~np.eye(n, dtype=bool)
    kth = np.sort(np.where(off, fit, -np.inf), axis=1)[:, -min(NEIGHBOURS, n - 1)]
    margin = fit + 2 * spread - np.minimum(kth[:, None], kth[None, :])
    counts = observed.sum(1)
    together = counts[:, None] + counts[None, :]  # observed pairs of the two models
    iu = np.triu_indices(n, 1)
    free = np.flatnonzero(~observed[iu] if allowed is None else allowed[iu] & ~observed[iu])
    tiebreak = np.random.default_rng([seed, int(observed.sum())]).permutation(len(free))
    queues = [iter(np.lexsort((tiebreak, -margin[iu][free]))), iter(np.lexsort((tiebreak, together[iu][free])))]
    order, taken = [], set()
    while len(order) < min(k, len(free)):  # alternately the next of each queue not taken yet
        i = next(x for x in queues[len(order) % 2] if x not in taken)
        order.append(i)
        taken.add(i)
    return [(int(iu[0][free[i]]), int(iu[1][free[i]])) for i in order]


def choose(values_of: Callable[[list[tuple[int, int]]], np.ndarray], n: int, n_pairs: int, *, seed: int = 0,
           active: bool = True, given: list[tuple[int, int]] = (), candidates: set | None = None,
           covariate: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Choose `n_pairs` pairs (i < j) round by round (module docstring) among `candidates` (default: all), with
    the pairs `given` observed already (free); `values_of(new_pairs)` evaluates the newly chosen pairs (running
    their units when needed) and returns the (N, N) matrix of the values known so far (anything where
    unobserved); `covariate`: the completion's pair covariate (`archsim.sat.completion`), if any. Returns the
    pairs chosen, in order."""
    given = [tuple(sorted(p)) for p in given]
    taken = set(given)
    iu = np.triu_indices(n, 1)
    allowed = {p for p in zip(iu[0].tolist(), iu[1].tolist())} if candidates is None else set(candidates)
    allowed -= taken
    n_pairs = min(n_pairs, len(allowed))
    start = [p for p in design(n, seed) if p in allowed]
    if not active:
        rest = sorted(allowed - set(start))
        start += [rest[i] for i in np.random.default_rng([seed, n, 1]).permutation(len(rest))]
    chosen = start[:n_pairs]
    values = values_of(chosen)
    rounds, fit = 0, None
    while len(chosen) < n_pairs:
        observed = np.zeros((n, n), dtype=bool)
        rows, cols = np.array(given + chosen).T
        observed[rows, cols] = observed[cols, rows] = True
        allowed_now = np.zeros((n, n), dtype=bool)
        for i, j in allowed - set(chosen):
            allowed_now[i, j] = True
        if rounds % REFIT_ROUNDS == 0:
            fit = choose_fit(values, observed, covariate=covariate, seed=seed)[0]
        new = next_pairs(values, observed, min(round_pairs(n), n_pairs - len(chosen)), seed=seed,
                         allowed=allowed_now, fit=fit, covariate=covariate)
        chosen += new
        values = values_of(new)
        rounds += 1
    return chosen
