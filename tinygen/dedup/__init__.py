"""Exact and near-duplicate removal: MinHash signatures (minhash), the LSH index (index,
sorted_runs, buckets, keystore) and its file (sigfile), the online state during a run
(seen), and `tinygen dedup` (files)."""
