"""Vericlaim: checks the photo and video evidence behind after-sales claims.

It routes claims, it never convicts: every flag is explained, and "inconclusive,
ask for more evidence" is a first-class answer.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
