"""The ``callsheet`` command (click); ``python -m callsheet.cli`` runs it too."""

__all__: list[str] = []
