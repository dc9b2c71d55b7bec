"""ava_tx.builders."""
