"""Catalog-wide aggregates: the pure computation (``compute``) and where they are kept
(``store``)."""
