"""Who may call what: client keys, their limits and daily token quotas, the brute-force guard."""
