"""The catalog: row schema and validation, embedding text, categories, ingest, embed messages
and embedding into the store."""
