"""Icons and translations, shipped inside the package as `pbpm_desktop.resources`."""
