"""Recipes: the model, loading, data files, templates, sampling, items."""
