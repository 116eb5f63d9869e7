"""``python -m recommender`` runs the command line."""

from recommender.cli import main

main()
