"""The bundle's entry point: the same `main()` as the `pbpm-desktop` console script."""

from pbpm_desktop.cli import main

if __name__ == "__main__":
    main()
