#!/usr/bin/env python3
"""Derive data/plmn.tsv (mcc, mnc, cc, brand, operator) and data/mcc.tsv (mcc, cc) from
mcc-mnc-list.json of the npm package mcc-mnc-list 1.1.11 (MIT, scraped from Wikipedia's
"Mobile country code" pages).

Rules (the Rust side documents the same):
* plmn.tsv keeps records whose status is Operational, Temporary operational or Unknown and
  whose MCC is 3 digits and MNC 2 or 3 digits; Not operational, Returned spare, Reserved,
  Planned and the other not-in-service states are dropped, and so are the four test and
  private-use codes (type "Test": 001/01, 001/001, 999/99, 999/999), which are no operators.
* A country field listing several territories ("AU/CC/CX") keeps the first; "GE-AB" keeps
  "GE"; records without a country (test and international networks) get an empty cc.
* mcc.tsv gives each MCC the country most of its records (of any status) name; ties go to
  the one listed first.
* When several kept records share an MCC+MNC, the one kept is Operational before the others,
  then the one in the MCC's own country, then the first listed.

Usage: npm pack mcc-mnc-list@1.1.11; tar xzf mcc-mnc-list-1.1.11.tgz;
       derive_plmn.py package/mcc-mnc-list.json
"""

import collections
import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent
KEEP = ("Operational", "Temporary operational", "Unknown")


def country(record):
    cc = (record["countryCode"] or "").split("/")[0][:2]
    return cc if re.fullmatch(r"[A-Z]{2}", cc) else ""


def clean(text):
    return " ".join((text or "").split())


def mcc_countries(records):
    counts = collections.defaultdict(collections.Counter)
    for r in records:
        if country(r):
            counts[r["mcc"]][country(r)] += 1
    # Counter.most_common keeps insertion order among equal counts.
    return {mcc: c.most_common(1)[0][0] for mcc, c in counts.items()}


def operators(records, home):
    chosen = {}
    for r in records:
        if r["status"] not in KEEP or r["type"] == "Test" or not re.fullmatch(r"\d{3}", r["mcc"] or ""):
            continue
        if not re.fullmatch(r"\d{2,3}", r["mnc"] or ""):
            continue
        rank = (r["status"] != "Operational", country(r) != home.get(r["mcc"]))
        key = (r["mcc"], r["mnc"])
        if key not in chosen or rank < chosen[key][0]:
            chosen[key] = (rank, r)
    return [r for _, r in chosen.values()]


if __name__ == "__main__":
    records = json.load(open(sys.argv[1], encoding="utf-8"))
    home = mcc_countries(records)
    with open(DATA / "mcc.tsv", "w", encoding="utf-8", newline="\n") as f:
        for mcc in sorted(home):
            f.write(f"{mcc}\t{home[mcc]}\n")
    rows = sorted(
        (r["mcc"], r["mnc"], country(r), clean(r["brand"]), clean(r["operator"]))
        for r in operators(records, home)
    )
    with open(DATA / "plmn.tsv", "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write("\t".join(row) + "\n")
