"""The run directory: file layout, JSONL, the output dir, manifest, log."""
