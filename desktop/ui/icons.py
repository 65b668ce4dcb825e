"""Icons drawn in code: crisp at any size, nothing to ship or to go missing."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

from desktop import paths


def app_icon() -> QIcon:
    """Parley's icon from resources/parley.svg (a drawn microphone if it is missing)."""
    svg = paths.resources_dir() / "parley.svg"
    icon = QIcon(str(svg)) if svg.is_file() else QIcon()
    return icon if not icon.isNull() else microphone_icon(QColor("#2f6fde"))


def microphone_icon(color: QColor, size: int = 64) -> QIcon:
    """A microphone: capsule, cradle and stand."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 64.0
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(QRectF(22 * s, 6 * s, 20 * s, 32 * s), 10 * s, 10 * s)
    pen = QPen(color, 4 * s)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    cradle = QPainterPath(QPointF(14 * s, 28 * s))
    cradle.cubicTo(QPointF(14 * s, 52 * s), QPointF(50 * s, 52 * s), QPointF(50 * s, 28 * s))
    painter.drawPath(cradle)
    painter.drawLine(QPointF(32 * s, 46 * s), QPointF(32 * s, 56 * s))
    painter.drawLine(QPointF(22 * s, 58 * s), QPointF(42 * s, 58 * s))
    painter.end()
    return QIcon(pixmap)
