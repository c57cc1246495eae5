"""The terminal display: a live status that fits the width it is given."""
