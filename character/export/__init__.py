"""Getting a persona out of the studio: merged weights, GGUF, Ollama Modelfile, adapter packages."""
