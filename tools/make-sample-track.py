#!/usr/bin/env python3
"""Writes samples/demo-ride.jsonl: a made-up bike ride and a made-up Greenwich van.

The data is invented by this project (no real person or device): a 30-minute ride on a loop
around a park, one point every 20 seconds with speed, course, accuracy and battery, a region
enter/leave pair, and a delivery van reporting in Greenwich CSV. The output is deterministic, so
re-running the script reproduces the committed file byte for byte.
"""

import json
import math
import random

START = 1795251600  # 2026-11-21T09:00:00Z
CENTRE = (52.3580, 4.8686)
RADIUS_M = 1100.0


def offset(lat, lon, north_m, east_m):
    return (lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat))))


def bearing(a, b):
    y = math.sin(math.radians(b[1] - a[1])) * math.cos(math.radians(b[0]))
    x = math.cos(math.radians(a[0])) * math.sin(math.radians(b[0])) - math.sin(
        math.radians(a[0])
    ) * math.cos(math.radians(b[0])) * math.cos(math.radians(b[1] - a[1]))
    return (math.degrees(math.atan2(y, x)) + 360) % 360


def ride(rng):
    points = []
    for i in range(91):
        angle = 2 * math.pi * i / 90
        wobble = rng.uniform(-12, 12)
        lat, lon = offset(*CENTRE, (RADIUS_M + wobble) * math.sin(angle), (RADIUS_M + wobble) * math.cos(angle))
        points.append((round(lat, 6), round(lon, 6)))
    lines = []
    for i, (lat, lon) in enumerate(points):
        nxt = points[min(i + 1, len(points) - 1)]
        message = {
            "_type": "location",
            "tid": "DB",
            "tst": START + 20 * i,
            "lat": lat,
            "lon": lon,
            "acc": rng.randint(4, 12),
            "alt": rng.randint(0, 4),
            "vel": 0 if i in (0, 90) else rng.randint(14, 21),
            "cog": round(bearing((lat, lon), nxt)) if i < 90 else 0,
            "batt": 88 - i // 15,
            "bs": 1,
            "conn": "m",
            "m": 2,
            "t": "u" if i == 0 else "t",
        }
        lines.append({"topic": "owntracks/demo/bike", "payload": message})
        if i in (20, 60):
            event = "enter" if i == 20 else "leave"
            transition = {"_type": "transition", "event": event, "desc": "Park", "t": "c",
                          "tst": START + 20 * i, "wtst": START - 86400, "lat": lat, "lon": lon,
                          "acc": 8, "tid": "DB"}
            lines.append({"topic": "owntracks/demo/bike/event", "payload": transition})
    return lines


def van(rng):
    lines = [{"topic": "owntracks/demo/van/status", "payload": "1"}]
    lat, lon = 52.3702, 4.8952
    for i in range(12):
        lat, lon = offset(lat, lon, rng.uniform(80, 160), rng.uniform(-40, 40))
        csv = "VN,{:X},{},{},{},{},{},{},{},{}".format(
            START + 150 * i, "t" if i else "f", round(lat * 1e6), round(lon * 1e6),
            rng.randint(0, 35), rng.randint(20, 45), rng.randint(0, 2), rng.randint(100, 180), i // 4)
        lines.append({"topic": "owntracks/demo/van", "payload": csv})
    lines.append({"topic": "owntracks/demo/van/voltage/ext", "payload": "12.4"})
    return lines


def main():
    rng = random.Random(2026)
    with open("samples/demo-ride.jsonl", "w", encoding="utf-8") as out:
        for line in ride(rng) + van(rng):
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
