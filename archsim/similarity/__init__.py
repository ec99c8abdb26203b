"""Similarity measures SAT is compared against: representation-based and weight-based.

Representations (n examples x p features): `linear_cka`, `rbf_cka`, `minibatch_cka`,
`cca`, `svcca`, `pwcca`, the gradient kernel (`GradientKernel` and its indices) and
`layer_cka` between the layers of two models. Weights: filter atoms
(`reference_coefficients`, `fit_atoms`), filter subspaces (`filter_subspace`,
`grassmann_distance`, `subspace_similarity`), chain-normalized weights
(`normalized_chain`, `align`, `representation`) and `hypothesis_training_testing`.
`archsim similarity --metric NAME` computes any of them between a run's models
(`archsim.similarity.registry`).
"""

from archsim.similarity.canonical_correlation import CCAResult, cca, pwcca, svcca
from archsim.similarity.chain_norm import align, normalized_chain, representation
from archsim.similarity.filter_atoms import fit_atoms, reference_coefficients
from archsim.similarity.gradient_kernel import (GradientKernel, kernel_cka, kernel_euclidean,
                                                normalized_bures_similarity)
from archsim.similarity.grassmann import filter_subspace, grassmann_distance, subspace_similarity
from archsim.similarity.kernel_alignment import (center_gram, cka, feature_space_linear_cka, gram_linear, gram_rbf,
                                                 linear_cka, rbf_cka)
from archsim.similarity.layer_grid import layer_cka
from archsim.similarity.streaming_cka import MinibatchCKA, minibatch_cka
from archsim.similarity.weight_test import hypothesis_training_testing

__all__ = ["CCAResult", "GradientKernel", "MinibatchCKA", "align", "cca", "center_gram", "cka",
           "feature_space_linear_cka", "filter_subspace", "fit_atoms", "gram_linear", "gram_rbf",
           "grassmann_distance", "hypothesis_training_testing", "kernel_cka", "kernel_euclidean", "layer_cka",
           "linear_cka", "minibatch_cka", "normalized_bures_similarity", "normalized_chain", "pwcca", "rbf_cka",
           "reference_coefficients", "representation", "subspace_similarity", "svcca"]
