"""Importers: catalogue files and MovieLens rating datasets, each refused whole or written whole.

``problems`` and ``text`` are what every importer reports with; ``runs`` is the ``ImportRun``
bookkeeping they share; ``catalogue`` and ``movielens`` are the two importers.
"""
