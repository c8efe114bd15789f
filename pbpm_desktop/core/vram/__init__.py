"""VRAM policy (DESIGN.md §4): residency, the swap scheduler, per-model slots, GPU readings."""
