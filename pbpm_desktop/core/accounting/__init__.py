"""What each request cost: the token audit, its crash journal, Prometheus metrics."""
