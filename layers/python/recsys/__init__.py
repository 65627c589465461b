"""recsys — vector-embedding product recommendations for serverless stores.

Everything that thinks lives here: encoders, profile maths, ranking, store adapters.
Handlers under functions/ import this package; this package never imports them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
