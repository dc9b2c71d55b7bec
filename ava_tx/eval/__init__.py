"""ava_tx.eval."""
