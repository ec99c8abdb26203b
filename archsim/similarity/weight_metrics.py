"""Weight-space measures (filter atoms, Grassmann, chain-normalized weights) as `archsim similarity` metrics."""

MEASURES: dict = {}
