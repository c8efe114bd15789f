"""The UI language: chosen from the system locale (LANG) or the Settings page's choice.

Translations are Qt Linguist files shipped as package data: resources/i18n/
pbpm_desktop_<locale>.qm, compiled with `pyside6-lrelease` from the .ts next to it, which
`pyside6-lupdate` extracts from every `tr()` / `QCoreApplication.translate()` in
pbpm_desktop/qt (see scripts/update_translations.py). Qt's own strings (Cancel, OK, the
calendar) come from the qtbase_<locale>.qm that PySide6 ships. Only the desktop UI is
translated: the CLI and the HTTP API stay English, so scripts and logs read the same
everywhere.

Numbers and dates follow the same locale: `QLocale.setDefault` makes every `QLocale()` in
pbpm_desktop.qt.formatting the chosen one.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from pbpm_desktop.assets import resource

#: (Settings value, name shown in its own language); "" follows the system
LANGUAGES = (("", ""), ("en", "English"), ("pt_BR", "Português (Brasil)"))
CATALOG = "pbpm_desktop"

_installed: list[QTranslator] = []


def ui_locale(language: str = "") -> QLocale:
    """The locale for `language` ("" = the system's, the C/POSIX locale read as English)."""
    locale = QLocale(language) if language else QLocale.system()
    if locale.language() == QLocale.Language.C:
        return QLocale(QLocale.Language.English, QLocale.Country.UnitedStates)
    return locale


def catalog_dir() -> str:
    return str(resource("i18n"))


def install(app: QCoreApplication, language: str = "") -> QLocale:
    """Install the translators for `language` (replacing earlier ones); returns the locale."""
    for translator in _installed:
        app.removeTranslator(translator)
    _installed.clear()
    locale = ui_locale(language)
    QLocale.setDefault(locale)
    ours = QTranslator(app)
    if ours.load(locale, CATALOG, "_", catalog_dir()):
        app.installTranslator(ours)
        _installed.append(ours)
        qt_own = QTranslator(app)
        path = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
        if qt_own.load(locale, "qtbase", "_", path):
            app.installTranslator(qt_own)
            _installed.append(qt_own)
    return locale


def active() -> bool:
    """Whether a translation (not the English source) is installed."""
    return bool(_installed)
