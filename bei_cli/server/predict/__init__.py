"""Sequence classification: TEI/BEI POST /predict."""
