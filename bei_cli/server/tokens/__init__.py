"""TEI tokenizer routes: POST /tokenize and /decode (every model serves them)."""
