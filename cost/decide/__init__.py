"""Decisions over priced estimates: the verdict, the optimizer, sensitivity, curves and advice."""
