"""`python -m pbpm_desktop.core.settings --markdown | --write-readme`: README's settings table."""

from pbpm_desktop.core.settings.doc import main

main()
