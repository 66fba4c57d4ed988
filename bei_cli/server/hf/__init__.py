"""Hugging Face Inference API task shapes: POST /hf/text-classification and /hf/token-classification
(what `huggingface_hub.InferenceClient` posts to the root URL)."""
