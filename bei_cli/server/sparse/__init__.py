"""TEI's /embed_sparse: SPLADE (SparseEncoder) vectors as index/value pairs."""
