"""Similarity measures SAT is compared against: representation-based and weight-based.

One file per measure family, named after it: `cka.py` (linear and RBF CKA,
biased or debiased), `cka_minibatch.py` (`MinibatchCKA`, `minibatch_cka`),
`cca.py` (CCA, SVCCA, PWCCA), `gradient_kernel.py` (`GradientKernel` and its
indices), `layer_cka.py` (every layer of one model against every layer of
another), `filter_atoms.py`, `grassmann.py` (filter subspaces), `chain_norm.py`
(chain-normalized weights) and `weight_test.py` (hypothesis-training-testing).
`registry.py` holds one record per measure that `archsim similarity --measure
NAME` computes between a run's models (`representation_measures.py`,
`weight_measures.py`, `sat_measure.py`), and `compute.py` computes and caches them.
"""

from archsim.similarity.cca import CCAResult, cca, pwcca, svcca
from archsim.similarity.chain_norm import align, normalized_chain, representation
from archsim.similarity.cka import (
                                                center_gram,
                                                cka,
                                                feature_space_linear_cka,
                                                gram_linear,
                                                gram_rbf,
                                                linear_cka,
                                                rbf_cka,
)
from archsim.similarity.cka_minibatch import MinibatchCKA, minibatch_cka
from archsim.similarity.filter_atoms import fit_atoms, reference_coefficients
from archsim.similarity.gradient_kernel import GradientKernel, kernel_cka, kernel_euclidean, normalized_bures_similarity
from archsim.similarity.grassmann import filter_subspace, grassmann_distance, subspace_similarity
from archsim.similarity.layer_cka import layer_cka
from archsim.similarity.weight_test import hypothesis_training_testing

__all__ = ["CCAResult", "GradientKernel", "MinibatchCKA", "align", "cca", "center_gram", "cka",
           "feature_space_linear_cka", "filter_subspace", "fit_atoms", "gram_linear", "gram_rbf",
           "grassmann_distance", "hypothesis_training_testing", "kernel_cka", "kernel_euclidean", "layer_cka",
           "linear_cka", "minibatch_cka", "normalized_bures_similarity", "normalized_chain", "pwcca", "rbf_cka",
           "reference_coefficients", "representation", "subspace_similarity", "svcca"]
