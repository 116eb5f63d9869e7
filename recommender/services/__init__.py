"""Use cases: plain arguments and a session in, plain data out. No Flask request in here."""
