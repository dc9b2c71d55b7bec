"""ava_tx.training."""
