"""The catalog pipeline: validate and route rows (ingest), queue them, embed and store them."""
