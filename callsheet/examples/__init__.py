"""Examples the README runs, installed with the package.

``callsheet.examples.redrive``: agents changed on purpose, to re-drive on a goal the
crew ran (``callsheet demo`` prints the commands). The coordination crews and the
``eventsourcing`` application live in the source repository's ``examples/`` folder.
"""
