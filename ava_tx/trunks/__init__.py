"""ava_tx.trunks."""
