"""Funflix: A/B testing recommender systems in production."""

__version__ = "0.1.0"
