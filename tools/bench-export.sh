#!/usr/bin/env bash
# Streams one device's month and one device's year (1,051,200 fixes, one every 30 s of 2024) to
# GPX (or FORMAT) with `pista export --out`, and prints the time and peak memory (RSS, from
# /usr/bin/time -v) of each. Memory stays flat: the year needs about what the month needs, since
# nothing holds the whole result.
#
#   tools/bench-export.sh                    # uses target/release/pista
#   PISTA=target/debug/pista FORMAT=json tools/bench-export.sh
#
# Needs sqlite3 and /usr/bin/time (Debian: sqlite3, time). Everything lives in a temporary
# directory; the server it starts once (to create the database) listens on 127.0.0.1 only.
set -euo pipefail

PISTA=${PISTA:-target/release/pista}
PORT=${PORT:-18093}
FORMAT=${FORMAT:-gpx}
YEAR_POINTS=1051200
DIR=$(mktemp -d)
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT

# A server creates the database and the device; its first fix is the year's first.
export PISTA_ADMIN_PASSWORD="bench-admin-$RANDOM"
"$PISTA" serve --data-dir "$DIR" --http "127.0.0.1:$PORT" --broker off --geocode off --log warn &
SERVER=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/api/0/version" >/dev/null && break
    sleep 0.1
done
curl -sf -u "admin:$PISTA_ADMIN_PASSWORD" -X POST "http://127.0.0.1:$PORT/pub?u=bench&d=year" \
    -d '{"_type":"location","tid":"yr","lat":48.1,"lon":11.5,"tst":1704067200}' >/dev/null
kill "$SERVER"
wait "$SERVER" || true
SERVER=

# The rest of the year straight into the table, as ingest would have stored it.
. "$(dirname "$0")/fill-fixes.sh"
fill_fixes "$DIR/pista.db" bench year 1704067200 "$YEAR_POINTS" yr

measure() {
    local name=$1
    shift
    local out="$DIR/$name.$FORMAT"
    /usr/bin/time -v "$PISTA" export --data-dir "$DIR" --user bench --device year \
        --format "$FORMAT" --out "$out" "$@" >/dev/null 2>"$DIR/$name.time"
    local points rss elapsed size
    case $FORMAT in
        gpx) points=$(grep -c '<trkpt' "$out") ;;
        kml) points=$(grep -c '<Placemark' "$out") ;;
        json) points=$(grep -c '"tst"' "$out") ;;
        rec) points=$(grep -c '^[0-9]' "$out") ;;
        csv) points=$(($(wc -l <"$out") - 1)) ;;
        geojson) points=$(grep -o '"type":"Feature"' "$out" | wc -l) ;;
        *) echo "unknown FORMAT $FORMAT" >&2 && exit 2 ;;
    esac
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$DIR/$name.time")
    elapsed=$(awk -F': ' '/Elapsed/ {print $2}' "$DIR/$name.time")
    size=$(du -m "$out" | cut -f1)
    printf '%-6s %8d points  %5d MB %-7s  %8s elapsed  peak RSS %6d kB\n' \
        "$name" "$points" "$size" "$FORMAT" "$elapsed" "$rss"
}

measure month --from 2024-03-01 --to 2024-03-31T23:59:59
measure year
