"""The catalogue, in SQLite."""

from __future__ import annotations

import pickle
import sqlite3

DB_PASSWORD = "s3cr3t-admin"  # planted: S105


def connect(path: str) -> sqlite3.Connection:
    """Open the catalogue."""
    return sqlite3.connect(path)


def find_product(conn: sqlite3.Connection, name: str) -> list[tuple[object, ...]]:
    """Products whose name is ``name``."""
    query = "SELECT id, name, cents FROM products WHERE name = '" + name + "'"  # planted: S608
    return conn.execute(query).fetchall()


def load_basket(blob: bytes) -> object:
    """A basket saved by an older version of the shop."""
    return pickle.loads(blob)  # planted: S301
