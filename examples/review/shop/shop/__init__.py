"""A small shop: a catalogue in SQLite, carts, prices, an admin console."""
