"""Reference top-N recommenders for the accuracy bench (numpy only; bench code, never runtime).

Each takes the training interactions as a dense ``(users, items)`` matrix and returns a score
matrix of the same shape, higher = recommend first; the bench masks what each user rated in
training and ranks the rest (``engine/ranking_metrics.py``). Written small and plain, from the
papers, so that the figures they produce can be checked by reading them:

* :func:`most_rated` - the number of training ratings of each movie, the same for every user;
* :func:`item_knn` - item-based KNN on who-rated-what (Deshpande & Karypis 2004): cosine between
  the binary item columns; a candidate is scored by the sum of its similarities to those of the
  user's rated movies that are among the candidate's ``k`` most similar movies (keeping the
  rated movie's ``k`` instead scores nDCG@10 0.29 rather than 0.32 on ML-100K's 80/20 split);
* :func:`ease` - EASE (Steck 2019): the closed-form item-item regression
  ``B = I - P / diag(P)`` with ``P = (X^T X + lambda I)^-1`` (zero diagonal), scores ``X B``;
* :func:`pure_svd` - PureSVD (Cremonesi, Koren & Turrin 2010): the rank-``f`` truncated SVD of
  the rating matrix (missing = 0), scores ``X V_f V_f^T``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def interaction_matrix(
    users: NDArray[np.intp],
    items: NDArray[np.intp],
    values: NDArray[np.float64],
    n_users: int,
    n_items: int,
) -> NDArray[np.float64]:
    """The dense ``(n_users, n_items)`` matrix: ``values`` at ``(users, items)``, 0 elsewhere."""
    matrix = np.zeros((n_users, n_items))
    matrix[users, items] = values
    return matrix


def most_rated(binary: NDArray[np.float64]) -> NDArray[np.float64]:
    """Every user's scores: how many users rated each movie."""
    return np.broadcast_to(binary.sum(axis=0), binary.shape).copy()


def item_knn(binary: NDArray[np.float64], k: int = 200) -> NDArray[np.float64]:
    """Item-based KNN with cosine similarity over the binary who-rated-what columns.

    ``similarity[i, j]`` is kept only when j is among the ``k`` most similar movies of the
    candidate i (ties to the lower column); a movie is never its own neighbour.
    """
    counts = binary.sum(axis=0)
    norms = np.sqrt(counts)
    norms[norms == 0] = 1.0
    similarity = (binary.T @ binary) / np.outer(norms, norms)
    np.fill_diagonal(similarity, 0.0)
    if k < similarity.shape[1]:
        # Rows sorted by similarity, highest first, ties to the lower column (stable sort).
        order = np.argsort(-similarity, axis=1, kind="stable")
        dropped = order[:, k:]
        np.put_along_axis(similarity, dropped, 0.0, axis=1)
    return binary @ similarity.T


def ease(binary: NDArray[np.float64], regularisation: float = 500.0) -> NDArray[np.float64]:
    """EASE's scores ``X B`` with ``B = I - P / diag(P)``, ``P = (X^T X + lambda I)^-1``."""
    gram = binary.T @ binary
    gram[np.diag_indices_from(gram)] += regularisation
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return binary @ weights


def pure_svd(ratings: NDArray[np.float64], n_factors: int = 20) -> NDArray[np.float64]:
    """PureSVD's scores ``R V_f V_f^T`` from the rank-``n_factors`` SVD of ``R`` (missing = 0)."""
    _, _, vt = np.linalg.svd(ratings, full_matrices=False)
    item_factors = vt[:n_factors].T
    return (ratings @ item_factors) @ item_factors.T
