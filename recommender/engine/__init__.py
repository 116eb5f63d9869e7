"""Exact, vectorised k-nearest-neighbour engine (numpy only).

``recommender.engine.knn`` holds the estimators (:class:`~recommender.engine.knn.KNNRegressor`,
:class:`~recommender.engine.knn.KNNClassifier`) and ``recommender.engine.distances`` the
metrics. Nothing is imported here, so importing a submodule stays cheap and never pulls in the
web or database layers.
"""
