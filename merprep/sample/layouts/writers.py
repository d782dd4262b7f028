"""Writers for images, videos, spreadsheets and CSV files that give byte-identical output for
the same input (the sample generator's; a layout imports them from ``common``)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merprep.errors import MerprepError

JPEG_QUALITY = 92


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode an image for ``suffix`` (.jpg, .png, .bmp); 16-bit arrays only as PNG."""
    params: list[int] = []
    if suffix == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    elif suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buffer = cv2.imencode(suffix, image, params)
    if not ok:
        raise MerprepError(f"could not encode a {suffix} image")
    return buffer.tobytes()


def write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_image(image, path.suffix.lower()))


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int]) -> int:
    """Write an MPEG-4 Part 2 (``mp4v``) video with OpenCV; return the number of frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(path), fourcc, float(fps), size)
    if not writer.isOpened():
        raise MerprepError("OpenCV cannot write mp4v videos here (no FFmpeg backend?)", file=path)
    n = 0
    try:
        for frame in frames:
            writer.write(frame)
            n += 1
    finally:
        writer.release()
    return n


_FIXED_TIME = datetime(2000, 1, 1)


def write_xlsx(path: Path, sheets: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
    """Write a workbook with the given sheets (title, rows), byte-identical across runs.

    openpyxl stamps the current time into the document properties and the zip entries; both are
    pinned here so that the same rows always give the same file.
    """
    from openpyxl import Workbook
    from openpyxl.xml.functions import tostring

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)  # stamps properties.modified with the current time
    workbook.properties.creator = "merprep sample"
    workbook.properties.created = _FIXED_TIME
    workbook.properties.modified = _FIXED_TIME
    core = tostring(workbook.properties.to_tree())
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            data = core if info.filename == "docProps/core.xml" else src.read(info.filename)
            dst.writestr(entry, data)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def au_cell(text: str) -> int | str:
    """An AU string as a spreadsheet cell: a lone AU number is stored as a number, as in the
    real CASME II and SAMM sheets (``4`` is numeric, ``4+7`` text)."""
    return int(text) if text.isdigit() else text
