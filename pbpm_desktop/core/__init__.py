"""The gateway core. Never imports Qt: `serve` runs it on servers with no GUI libraries."""
