"""Model families beyond what transformers loads unaided: hub layouts written as native configs,
and the loading check that keeps randomly initialised weights out of a served model."""
