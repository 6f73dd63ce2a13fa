"""Model files: the embedded default, the safetensors cache, and loading for training/sampling."""
