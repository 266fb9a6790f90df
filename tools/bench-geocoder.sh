#!/usr/bin/env bash
# Shows that reverse geocoding never slows ingest: the same burst of locations is replayed over
# MQTT QoS 1 into a release build of Pista with geocoding off, with the embedded offline
# geocoder, and with an online geocoder (Nominatim's protocol) that takes DELAY seconds per
# answer (tools/slow-geocoder.py, on loopback). Every location has its own geohash cell, so each
# one needs a lookup. Prints one line per mode: time, rate, locations stored, lookups asked.
#
# Usage: tools/bench-geocoder.sh   (N=20000 DELAY=2 PORT_BASE=18100 to change the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
DELAY=${DELAY:-2}
PORT_BASE=${PORT_BASE:-18100}
HTTP=127.0.0.1:$PORT_BASE
BROKER=127.0.0.1:$((PORT_BASE + 1))
FAKE_PORT=$((PORT_BASE + 2))

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet -p pista
pista=target/release/pista

# N locations of 50 devices, each 0.01 degree (about 1 km) from the one before.
python3 - "$N" > "$work/burst.jsonl" <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    device = f"d{i % 50}"
    lat = 40.0 + (i // 50) * 0.01 % 20
    lon = -3.0 + (i % 50) * 0.2
    message = {"_type": "location", "tid": device[-2:], "lat": round(lat, 6),
               "lon": round(lon, 6), "tst": 1_700_000_000 + i}
    print(json.dumps({"topic": f"owntracks/bench/{device}", "payload": message}))
PY

wait_for_http() {
  for _ in $(seq 1 300); do
    curl -fs "http://$HTTP/api/0/version" > /dev/null && return 0
    sleep 0.1
  done
  echo "pista did not start" >&2
  exit 1
}

# Each run's first start makes the admin with this password; /metrics is read as the admin.
export PISTA_ADMIN_PASSWORD="bench-admin-$RANDOM"

stored() {
  curl -fs -u "admin:$PISTA_ADMIN_PASSWORD" "http://$HTTP/metrics" | awk '$1 == "pista_locations_total" { print $2 }'
}

run() {
  local mode=$1
  shift
  local data="$work/data-$mode"
  "$pista" serve --data-dir "$data" --http "$HTTP" --broker "$BROKER" --log warn "$@" \
    2> "$work/serve-$mode.log" &
  local server=$!
  pids+=("$server")
  wait_for_http
  local started ended
  started=$(date +%s.%N)
  "$pista" replay "$work/burst.jsonl" --fast --to "mqtt://admin:$PISTA_ADMIN_PASSWORD@$BROKER" \
    > "$work/replay-$mode.txt"
  ended=$(date +%s.%N)
  local count lookups
  count=$(stored)
  lookups=$(curl -fs -u "admin:$PISTA_ADMIN_PASSWORD" "http://$HTTP/metrics" | awk '$1 == "pista_geocode_misses_total" { print $2 }')
  kill "$server"
  wait "$server" 2> /dev/null || true
  awk -v mode="$mode" -v s="$started" -v e="$ended" -v n="$N" -v c="$count" -v l="${lookups:-0}" \
    'BEGIN { printf "%-22s %6.2f s  %7.0f locations/s  stored %s of %s  lookups asked %s\n",
             mode, e - s, n / (e - s), c, n, l }'
}

echo "replaying $N locations of 50 devices over MQTT QoS 1 (each acknowledged after its commit)"
run off --geocode off
run offline --geocode offline
python3 tools/slow-geocoder.py "$FAKE_PORT" "$DELAY" "$work/fake-count" &
pids+=("$!")
sleep 0.5
run "slow-nominatim-${DELAY}s" --geocode nominatim --geocode-url "http://127.0.0.1:$FAKE_PORT" \
  --geocode-rate 1000 --geocode-timeout 30
