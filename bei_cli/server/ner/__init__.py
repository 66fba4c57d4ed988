"""Token classification (NER): BEI's POST /predict_tokens."""
