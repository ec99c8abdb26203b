"""Clusters of models from a similarity matrix S (larger = more similar).

Affinity for spectral clustering (zero diagonal, non-negative):

- "exp" (default, for log-scale similarities such as SAT = ln(100 x transfer
  rate)):  A_ij = exp(S_ij - max_{k != l} S_kl), i.e. the transfer rate
  relative to the largest one. Shifting by the maximum only rescales A, which
  spectral clustering (normalised Laplacian) ignores, and keeps exp finite.
- "linear" (for similarities on a linear scale, e.g. CKA):
  A_ij = S_ij - min_{k != l} S_kl.

Dissimilarity for hierarchical clustering, silhouette, t-SNE and MDS:
D_ij = max_{k != l} S_kl - S_ij, D_ii = 0.

The number of clusters k is given, or chosen in 2..k_max by
- "eigengap": the largest gap lambda_{k+1} - lambda_k between consecutive
  eigenvalues (ascending) of the normalised Laplacian of A, or
- "silhouette": the best mean silhouette (on D) of the spectral labels.

Spectral clustering is sklearn's SpectralClustering(affinity="precomputed");
hierarchical clustering is scipy's average linkage on D, cut into the same k.
Cluster ids are renumbered 0, 1, ... in order of first appearance in the
matrix, so results depend only on the input order and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import laplacian
from scipy.spatial.distance import squareform
from sklearn.cluster import SpectralClustering
from sklearn.manifold import MDS, TSNE
from sklearn.metrics import silhouette_score

from analysis.matrix.load import SimilarityMatrix
from archsim.errors import ArchsimError

AFFINITIES = ("exp", "linear")
K_METHODS = ("eigengap", "silhouette")


def _offdiag(values: np.ndarray) -> np.ndarray:
    return values[~np.eye(len(values), dtype=bool)]


def affinity(values: np.ndarray, kind: str = "exp") -> np.ndarray:
    """Non-negative, zero-diagonal affinity from a symmetric similarity matrix (see module docstring)."""
    off = _offdiag(values)
    if kind == "exp":
        a = np.exp(values - off.max())
    elif kind == "linear":
        a = values - off.min()
    else:
        raise ArchsimError(f"unknown affinity {kind!r}; choose from {', '.join(AFFINITIES)}")
    np.fill_diagonal(a, 0.0)
    return a


def dissimilarity(values: np.ndarray) -> np.ndarray:
    """D = max off-diagonal S - S, zero diagonal."""
    d = _offdiag(values).max() - values
    np.fill_diagonal(d, 0.0)
    return d


def laplacian_spectrum(a: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of the normalised graph Laplacian of affinity `a`."""
    return np.sort(np.linalg.eigvalsh(laplacian(a, normed=True)))


def relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster ids 0, 1, ... in order of first appearance."""
    order = {}
    for x in labels:
        order.setdefault(x, len(order))
    return np.array([order[x] for x in labels])


def spectral_labels(a: np.ndarray, k: int, seed: int) -> np.ndarray:
    model = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=seed)
    return relabel(model.fit_predict(a))


@dataclass
class ClusterResult:
    names: list[str]
    labels: np.ndarray  # spectral cluster per model
    k: int
    k_method: str  # "given", "eigengap" or "silhouette"
    spectrum: np.ndarray  # Laplacian eigenvalues, ascending
    silhouettes: dict[int, float] = field(default_factory=dict)  # k -> mean silhouette (silhouette method)
    linkage: np.ndarray | None = None  # scipy linkage matrix (average, on D)
    hierarchical_labels: np.ndarray | None = None  # the dendrogram cut into k clusters
    tsne: np.ndarray | None = None  # (n, 2)
    mds: np.ndarray | None = None  # (n, 2)


def cluster_models(m: SimilarityMatrix, *, k: int | None = None, k_method: str = "eigengap", k_max: int = 10,
                   affinity_kind: str = "exp", seed: int = 0, embed: bool = True) -> ClusterResult:
    """Spectral + hierarchical clustering of the models of `m`, and 2-D maps when `embed`."""
    n = len(m.names)
    a = affinity(m.values, affinity_kind)
    d = dissimilarity(m.values)
    spectrum = laplacian_spectrum(a)
    k_max = min(k_max, n - 1)
    silhouettes: dict[int, float] = {}
    if k is not None:
        if not 2 <= k <= n - 1:
            raise ArchsimError(f"--clusters must be between 2 and {n - 1} for {n} models, got {k}")
        method = "given"
    elif k_max < 2:
        raise ArchsimError(f"cannot choose a number of clusters for {n} models")
    elif k_method == "eigengap":
        gaps = np.diff(spectrum)[1:k_max]  # gaps[j] = lambda_{k+1} - lambda_k (1-based) for k = j + 2
        k, method = int(np.argmax(gaps)) + 2, k_method
    elif k_method == "silhouette":
        for kk in range(2, k_max + 1):
            silhouettes[kk] = float(silhouette_score(d, spectral_labels(a, kk, seed), metric="precomputed"))
        k, method = max(silhouettes, key=lambda kk: (silhouettes[kk], -kk)), k_method
    else:
        raise ArchsimError(f"unknown k method {k_method!r}; choose from {', '.join(K_METHODS)}")
    z = linkage(squareform(d, checks=False), method="average")
    result = ClusterResult(names=list(m.names), labels=spectral_labels(a, k, seed), k=k, k_method=method,
                           spectrum=spectrum, silhouettes=silhouettes, linkage=z,
                           hierarchical_labels=relabel(fcluster(z, k, criterion="maxclust")))
    if embed:
        result.tsne, result.mds = embed_2d(d, seed)
    return result


def embed_2d(d: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(t-SNE, metric MDS) 2-D coordinates from a precomputed dissimilarity matrix.

    t-SNE uses the exact gradient (O(n^2)): model pools are small, and Barnes-Hut is
    slower there. t-SNE gets a copy of `d`: sklearn's TSNE squares precomputed
    distances in place, which would feed MDS the squared matrix. MDS (SMACOF) starts
    from `classical_mds(d)`.
    """
    n = len(d)
    perplexity = max(1.0, min(30.0, (n - 1) / 3))
    tsne = TSNE(n_components=2, metric="precomputed", init="random", perplexity=perplexity, method="exact",
                random_state=seed).fit_transform(d.copy())
    mds = MDS(n_components=2, metric="precomputed", init="random", n_init=1,
              random_state=seed).fit_transform(d, init=classical_mds(d))
    return tsne, mds


def classical_mds(d: np.ndarray, dims: int = 2) -> np.ndarray:
    """Torgerson's classical MDS of dissimilarities `d`, (n, dims): the top eigenvectors of the double-centred
    -D^2 / 2, each scaled by the square root of its eigenvalue, negative eigenvalues taken as 0.

    D = max S - S is rarely Euclidean (with 3 or 4 models its centred matrix often has a negative
    eigenvalue among the top two), and sklearn's own classical start takes the square root of it: NaN
    coordinates, and SMACOF stops with "Input contains NaN". Clipping at 0 is the usual remedy: the
    nearest Euclidean configuration in those dimensions.
    """
    n = len(d)
    centre = np.eye(n) - 1.0 / n
    b = -0.5 * centre @ (d ** 2) @ centre
    values, vectors = np.linalg.eigh(b)
    top = np.argsort(values)[::-1][:dims]
    return vectors[:, top] * np.sqrt(np.clip(values[top], 0, None))
