"""User preference vectors: the maths (``maths``) and keeping them in the users collection."""
