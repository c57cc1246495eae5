"""Reading a corpus back: statistics, their rendering, the card, plots."""
