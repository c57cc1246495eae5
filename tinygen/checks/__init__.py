"""Answer checks: the seam, text checks, words, vocabulary, code, building them."""
