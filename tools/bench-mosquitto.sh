#!/usr/bin/env bash
# Ingest through an existing Mosquitto: starts a Mosquitto of its own on 127.0.0.1:$PORT
# (max_queued_messages 0, so a burst is queued, not dropped), `pista serve` subscribed to it
# with a fresh SQLite database, then `pista load` publishes N QoS 1 locations from 200 devices;
# it reports the time from the first publish until the Nth location is in the database, and
# checks the count in SQLite. INFLIGHT sets Mosquitto's max_inflight_messages (its default is
# 20: no more than 20 messages unacknowledged towards Pista, so no batch holds more than 20).
# Usage: [PISTA=target/release/pista] [N=100000] [INFLIGHT=20] [PORT=18883] [DATABASE=url]
# tools/bench-mosquitto.sh
set -euo pipefail
PISTA=${PISTA:-target/release/pista}
N=${N:-100000}
PORT=${PORT:-18883}
INFLIGHT=${INFLIGHT:-20}
HTTP=${HTTP:-18091}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages %s\npersistence false\n' \
  "$PORT" "$INFLIGHT" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
sleep 1

user="bench$RANDOM"
database=${DATABASE:-sqlite://$work/pista.db}
# The first start makes the admin with this password; /metrics is read as the admin.
export PISTA_ADMIN_PASSWORD="bench-admin-$RANDOM"
"$PISTA" serve --data-dir "$work" --database "$database" --http "127.0.0.1:$HTTP" --broker off \
  --mqtt "mqtt://127.0.0.1:$PORT" --mqtt-client-id "$user" --mqtt-base-topics "owntracks/$user/#" \
  --geocode off --log warn ${PISTA_ARGS:-} > "$work/pista.log" 2>&1 &
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HTTP/api/0/version" > /dev/null && break
  sleep 0.1
done

stored() { curl -s -u "admin:$PISTA_ADMIN_PASSWORD" "http://127.0.0.1:$HTTP/metrics" | awk '/^pista_locations_total/ {print $2}'; }
start=$(date +%s.%N)
"$PISTA" load --to "mqtt://127.0.0.1:$PORT" --devices 200 --messages "$N" --connections 200 \
  --user "$user" | tail -n 1
until [ "$(stored)" -ge "$N" ]; do sleep 0.1; done
end=$(date +%s.%N)
awk -v n="$N" -v s="$start" -v e="$end" \
  'BEGIN { printf "%d locations stored in %.2f s (%d/s)\n", n, e - s, n / (e - s) }'
case "$database" in
  sqlite://*) echo "rows in the database: $(sqlite3 "${database#sqlite://}" 'SELECT COUNT(*) FROM locations')" ;;
esac
