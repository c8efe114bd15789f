"""PBPM Desktop: an authenticated, audited, VRAM-aware gateway in front of a local Ollama."""

__version__ = "0.1.0"
