"""A loopback stand-in for the Hugging Face Hub endpoints huggingface_hub uses."""
