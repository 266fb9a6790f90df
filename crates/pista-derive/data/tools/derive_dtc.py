#!/usr/bin/env python3
"""Derive data/dtc.tsv (code<TAB>title) from the DTC catalogue shipped in the PyPI package
obd-diag 0.2.2 (MIT; its catalogue is OBDex data, CC0-1.0), and data/dtc-fixes.tsv, the
O2 sensor circuit family P0130-P0147 and P0150-P0167 written out from the SAE J2012 naming
pattern, which overrides the catalogue where both have a code.

Usage: pip download --no-deps --only-binary=:all: --python-version 3.13 obd-diag==0.2.2
       unzip obd_diag-0.2.2-py3-none-any.whl; derive_dtc.py obd_diag/data/dtc_catalog.sqlite
"""

import re
import sqlite3
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent
CODE = re.compile(r"[PCBU][0-3][0-9A-F]{3}")


def catalogue(path):
    db = sqlite3.connect(path)
    rows = db.execute("SELECT code, title_en FROM dtc ORDER BY code").fetchall()
    out = []
    for code, title in rows:
        title = " ".join(title.split())
        if CODE.fullmatch(code) and title and not title.startswith("Reserved"):
            out.append((code, title))
    return out


def o2_family():
    kinds = [
        "O2 Sensor Circuit Malfunction",
        "O2 Sensor Circuit Low Voltage",
        "O2 Sensor Circuit High Voltage",
        "O2 Sensor Circuit Slow Response",
        "O2 Sensor Circuit No Activity Detected",
        "O2 Sensor Heater Circuit Malfunction",
    ]
    out = []
    for bank, start in ((1, 0x130), (2, 0x150)):
        for sensor in (1, 2, 3):
            for i, kind in enumerate(kinds):
                number = start + (sensor - 1) * 6 + i
                out.append((f"P0{number:03X}", f"{kind} (Bank {bank} Sensor {sensor})"))
    return out


def write(name, rows):
    with open(DATA / name, "w", encoding="utf-8", newline="\n") as f:
        for code, title in sorted(rows):
            f.write(f"{code}\t{title}\n")


if __name__ == "__main__":
    write("dtc.tsv", catalogue(sys.argv[1]))
    write("dtc-fixes.tsv", o2_family())
