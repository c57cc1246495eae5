"""Exact and near-duplicate removal: MinHash, online state, `tinygen dedup`."""
