"""Where models live: local paths, Hugging Face Hub references and the local Hugging Face cache."""
