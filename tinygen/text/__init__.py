"""Text: one tokenizer, canonical hashing, encodable text, secrets, cores."""
