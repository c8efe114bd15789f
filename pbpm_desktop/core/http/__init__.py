"""The HTTP API (aiohttp): app factory, auth, Ollama and OpenAI proxies, admin routes."""
