"""Summarizers: extractive (no download) and abstractive (Hugging Face seq2seq)."""
