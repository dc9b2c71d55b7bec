"""ava_tx.meta_architectures."""
