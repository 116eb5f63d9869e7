"""The MovieLens importer: ``sources`` (folders and zips) -> ``layouts`` (one class per format)
-> ``writer`` (the database), driven by ``importer.import_movielens``."""
