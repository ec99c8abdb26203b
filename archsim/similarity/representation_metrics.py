"""Representation measures (CKA, CCA family, gradient kernel) as `archsim similarity` metrics."""

MEASURES: dict = {}
