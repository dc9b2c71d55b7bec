"""ava_tx.layers."""
