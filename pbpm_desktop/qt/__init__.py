"""The desktop app: tray icon and dashboard over the embedded gateway (DESIGN.md §6).

Everything here runs on the Qt thread under qasync. The gateway runs on its own `LoopThread`;
`bridge.py` is the only place where the two threads meet.
"""
