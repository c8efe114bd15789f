"""The upstream Ollama server: pooled HTTP/1.1 connections, llhttp framing, its calls and errors."""
