"""Runnable examples: the coordination patterns and an eventsourcing application.

The re-drive examples the README runs are installed with the package, in
``callsheet.examples.redrive``.
"""
