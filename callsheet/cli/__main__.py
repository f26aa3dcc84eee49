"""``python -m callsheet.cli`` runs the ``callsheet`` command."""

from callsheet.cli.main import main

main()
