"""``python -m pbpm_desktop.simulator`` (see cli.py)."""

from pbpm_desktop.simulator.cli import main

if __name__ == "__main__":
    main()
