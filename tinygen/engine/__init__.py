"""The generation run: the loop, asking, records, workers, counters, progress."""
