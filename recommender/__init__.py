"""recommender: a movie rating recommender web service built on an exact KNN engine.

The app is built by ``recommender.app.create_app``; this module stays light so that
``import recommender.engine`` loads neither Flask nor SQLAlchemy.
"""

__version__ = "0.1.0"
