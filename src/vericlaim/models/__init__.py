"""Shipped model weights (see MODEL_CARD.md)."""
