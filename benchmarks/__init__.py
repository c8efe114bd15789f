"""Gateway benchmarks: what the gateway costs on top of Ollama (issue 5).

`python -m benchmarks.run` starts the Ollama simulator and the gateway as separate processes on
loopback and drives both from this process, interleaving direct and through-gateway requests so
that machine noise hits both sides alike. See `benchmarks/run.py` for the scenarios.
"""
