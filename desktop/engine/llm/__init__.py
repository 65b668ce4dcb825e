"""Language models: the llama.cpp and remote backends, chat templates, reasoning, GGUF checks."""
