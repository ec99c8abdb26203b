"""Similarity measures SAT is compared against: representation-based and weight-based."""
