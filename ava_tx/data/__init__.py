"""ava_tx.data."""
