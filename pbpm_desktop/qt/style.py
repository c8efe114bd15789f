"""One clean, light look everywhere (also offscreen, where screenshots are rendered).

Fusion renders the same on every platform; the palette and a short stylesheet give the
sidebar, cards, banners and primary buttons their colours. Chart colours live here too so the
plots match the widgets.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#1f5fbf"
TEXT = "#1d2733"
MUTED = "#5d6b7e"
BORDER = "#d6dde6"
WINDOW = "#f4f6f9"
CARD = "#ffffff"
GOOD = "#2e9e57"
WARN = "#d18b00"
BAD = "#c8372d"

#: series colours for charts (models, keys), colour-blind friendly (Okabe-Ito based)
SERIES = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#7f7f7f",
    "#f0e442",
)
PROMPT_COLOR = "#56b4e9"
COMPLETION_COLOR = "#0072b2"

STYLESHEET = f"""
QMainWindow, QDialog {{ background: {WINDOW}; }}
QWidget#Sidebar {{ background: #e8edf3; border-right: 1px solid {BORDER}; }}
QListWidget#Nav {{ background: transparent; border: none; outline: 0; font-size: 10.5pt; }}
QListWidget#Nav::item {{ padding: 8px 10px; margin: 2px 6px; border-radius: 6px; color: {TEXT}; }}
QListWidget#Nav::item:selected {{ background: {ACCENT}; color: white; }}
QListWidget#Nav::item:hover:!selected {{ background: #dbe3ee; }}
QScrollArea#PageScroll, QWidget#PageBody {{ background: transparent; }}
QLabel#PageTitle {{ font-size: 15pt; font-weight: 600; color: {TEXT}; }}
QLabel#PageSubtitle, QLabel#Muted {{ color: {MUTED}; }}
QLabel#Brand {{ font-size: 12pt; font-weight: 600; color: {TEXT}; }}
QFrame#Card {{ background: {CARD}; border: 1px solid {BORDER}; border-radius: 8px; }}
QLabel#CardTitle {{ color: {MUTED}; font-size: 9pt; font-weight: 600; }}
QLabel#CardValue {{ color: {TEXT}; font-size: 17pt; font-weight: 600; }}
QLabel#Mono {{ font-family: "DejaVu Sans Mono", monospace; }}
QLineEdit#SecretKey {{ font-family: "DejaVu Sans Mono", monospace; font-size: 10.5pt;
    padding: 6px; background: #fffbe6; border: 1px solid #e6d27a; border-radius: 4px; }}
QPushButton {{ padding: 5px 12px; }}
QPushButton#Primary {{ background: {ACCENT}; color: white; border: 1px solid #184d9c;
    border-radius: 4px; font-weight: 600; }}
QPushButton#Primary:hover {{ background: #2a6fd6; }}
QPushButton#Primary:disabled {{ background: #9db5da; border-color: #9db5da; }}
QPushButton#Danger {{ color: {BAD}; }}
QFrame#Banner[level="info"] {{ background: #e7f0fd; border: 1px solid #b7cff3;
    border-radius: 6px; }}
QFrame#Banner[level="success"] {{ background: #e6f5ec; border: 1px solid #a9dcbc;
    border-radius: 6px; }}
QFrame#Banner[level="error"] {{ background: #fdeceb; border: 1px solid #f1b8b3;
    border-radius: 6px; }}
QToolButton#BannerClose {{ min-width: 24px; min-height: 24px; padding: 0 4px;
    font-size: 11pt; color: {TEXT}; border: none; border-radius: 4px; }}
QToolButton#BannerClose:hover {{ background: rgba(0, 0, 0, 0.08); }}
QLabel#Notice {{ background: #fff6e0; border: 1px solid #f0d48a; border-radius: 6px;
    padding: 8px 10px; color: {TEXT}; }}
QLabel#FitWarning {{ border-radius: 6px; padding: 6px 8px; color: {TEXT}; font-weight: normal; }}
QLabel#FitWarning[level="warning"] {{ background: #fff6e0; border: 1px solid #f0d48a; }}
QLabel#FitWarning[level="error"] {{ background: #fdeceb; border: 1px solid #f1b8b3; }}
QPlainTextEdit#Command {{ font-family: "DejaVu Sans Mono", monospace; font-size: 9pt;
    background: #f7f9fc; border: 1px solid {BORDER}; border-radius: 4px; }}
QLineEdit#DetailValue {{ background: transparent; color: {TEXT}; }}
QLabel#Pill {{ border-radius: 10px; padding: 2px 10px; color: white; font-weight: 600; }}
QTableView, QTableWidget {{ background: {CARD}; border: 1px solid {BORDER}; border-radius: 6px;
    gridline-color: #edf0f4; selection-background-color: #cfe0fa; selection-color: {TEXT}; }}
QHeaderView::section {{ background: #eef2f7; border: none; border-bottom: 1px solid {BORDER};
    padding: 4px 6px; font-weight: 600; color: {TEXT}; }}
QGroupBox {{ background: {CARD}; border: 1px solid {BORDER}; border-radius: 8px;
    margin-top: 14px; padding: 10px 8px 8px 8px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {TEXT}; }}
QProgressBar {{ border: 1px solid {BORDER}; border-radius: 4px; background: #eef2f7;
    text-align: center; height: 16px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
"""


def light_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: CARD,
        QPalette.ColorRole.AlternateBase: "#f7f9fc",
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: "#ffffff",
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#ffffff",
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.PlaceholderText: "#8a96a6",
        QPalette.ColorRole.Link: ACCENT,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(disabled, role, QColor("#9aa5b4"))
    palette.setColor(disabled, QPalette.ColorRole.WindowText, QColor("#9aa5b4"))
    return palette


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(light_palette())
    font = QFont(app.font())
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
