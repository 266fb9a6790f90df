#!/usr/bin/env bash
# The OwnTracks Frontend's start-up burst against Pista, and /api/0/version's answer times while
# a year-long /api/0/locations streams. Data: 10 devices with 90,000 fixes each (one every 30 s
# from 2026-11-01, a month), and one device with a year (1,051,200 fixes of 2024), written
# straight into the SQLite table as ingest would have stored them: the ten devices' fixes by
# time, as when they all report (LAYOUT=apart: each device's month after the other's, as an
# import of one device after another would store them, so that a device's fixes sit together
# in the file); then `pista compact` moves them into device order, as a running server does in
# the background with fixes that settled (COMPACT=off: not, and the server does not either).
#
#   tools/bench-frontend.sh                   # uses target/release/pista
#   COMPACT=off tools/bench-frontend.sh       # the fixes as they were stored
#   LAYOUT=apart COMPACT=off tools/bench-frontend.sh
#   PISTA=target/debug/pista POINTS=2000 YEAR_POINTS=20000 ROUNDS=2 tools/bench-frontend.sh
#
# The burst is what the Frontend sends when it opens (see the README): version, list, the
# user's devices, last, then one month of locations (format=json) for every device at once; each
# round is timed from its first request to the last byte of the last answer (the server's CPU
# time in it is read from /proc too), with curl, logged in with Basic as the Frontend behind a login would be. The months come from one curl process
# with parallel transfers, as from one browser tab; CLIENTS=many starts a curl process per
# device instead (the way earlier figures were taken), whose start-ups cost the same two cores
# some 60 ms more of CPU. Needs curl (7.66 or newer) and sqlite3. Everything lives in a
# temporary directory; the server listens on 127.0.0.1 only.
set -euo pipefail

PISTA=${PISTA:-target/release/pista}
PORT=${PORT:-18095}
DEVICES=${DEVICES:-10}
POINTS=${POINTS:-90000}
YEAR_POINTS=${YEAR_POINTS:-1051200}
ROUNDS=${ROUNDS:-5}
PROBES=${PROBES:-200}
DIR=$(mktemp -d)
SERVER=
SERVE_ARGS=()
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT

export PISTA_ADMIN_PASSWORD="bench-admin-$RANDOM"
AUTH="admin:$PISTA_ADMIN_PASSWORD"
URL="http://127.0.0.1:$PORT"
start() {
    "$PISTA" serve --data-dir "$DIR" --http "127.0.0.1:$PORT" --broker off --geocode off \
        --log warn "${SERVE_ARGS[@]}" &
    SERVER=$!
    for _ in $(seq 100); do
        curl -sf "$URL/api/0/version" >/dev/null && return
        sleep 0.1
    done
    echo "the server did not start" >&2
    exit 1
}
stop() {
    kill "$SERVER"
    wait "$SERVER" || true
    SERVER=
}

# The machine's speed varies from hour to hour (the same burst has needed 370 and 1,000 ms of
# the server's CPU on the same data): a fixed piece of work, timed, says which speed this run had.
REF_START=$(date +%s%N)
head -c 256M /dev/zero | sha256sum >/dev/null
echo "machine reference: sha256 of 256 MiB in $((($(date +%s%N) - REF_START) / 1000000)) ms"

# A server creates the database and the devices; each device's first fix.
start
MONTH=1793491200 # 2026-11-01T00:00:00Z
YEAR=1704067200  # 2024-01-01T00:00:00Z
for d in $(seq 0 $((DEVICES - 1))); do
    curl -sf -u "$AUTH" -X POST "$URL/pub?u=bench&d=d$d" \
        -d "{\"_type\":\"location\",\"tid\":\"d$d\",\"lat\":48.1,\"lon\":11.5,\"tst\":$MONTH}" >/dev/null
done
curl -sf -u "$AUTH" -X POST "$URL/pub?u=bench&d=year" \
    -d "{\"_type\":\"location\",\"tid\":\"yr\",\"lat\":48.1,\"lon\":11.5,\"tst\":$YEAR}" >/dev/null
stop

# The rest straight into the table.
. "$(dirname "$0")/fill-fixes.sh"
if [ "${LAYOUT:-together}" = apart ]; then
    for d in $(seq 0 $((DEVICES - 1))); do
        fill_fixes "$DIR/pista.db" bench "d$d" "$MONTH" "$POINTS" bb ',"batt":80,"conn":"m"'
    done
else
    fill_fixes "$DIR/pista.db" bench "$(seq -f 'd%g' -s ' ' 0 $((DEVICES - 1)))" "$MONTH" "$POINTS" \
        bb ',"batt":80,"conn":"m"'
fi
fill_fixes "$DIR/pista.db" bench year "$YEAR" "$YEAR_POINTS" bb ',"batt":80,"conn":"m"'
# A server that has been running has put these (settled) fixes in device order in the
# background; `pista compact` does it now. COMPACT=off leaves them as stored and the server
# too.
if [ "${COMPACT:-on}" = off ]; then
    SERVE_ARGS=(--compact false)
else
    COMPACT_START=$(($(date +%s%N) / 1000000))
    "$PISTA" compact --data-dir "$DIR" --log warn
    echo "compaction: $(($(date +%s%N) / 1000000 - COMPACT_START)) ms"
    # What it wrote goes to the disk before the bursts, as it would have long before them.
    sync
fi
start

now_ms() { echo $(($(date +%s%N) / 1000000)); }
TICK_MS=$((1000 / $(getconf CLK_TCK)))
# The server's CPU time so far (user and system), in ms.
server_cpu() { awk -v tick="$TICK_MS" '{print ($14 + $15) * tick}' "/proc/$SERVER/stat"; }
burst() {
    local t0 t1 c0
    c0=$(server_cpu)
    t0=$(now_ms)
    curl -sf -u "$AUTH" "$URL/api/0/version" >/dev/null
    curl -sf -u "$AUTH" "$URL/api/0/list" >/dev/null
    curl -sf -u "$AUTH" "$URL/api/0/list?user=bench" >/dev/null
    curl -sf -u "$AUTH" "$URL/api/0/last" >/dev/null
    local months=() d
    for d in $(seq 0 $((DEVICES - 1))); do
        months+=("$URL/api/0/locations?from=2026-11-01T00:00:00&to=2026-12-31T23:59:59&user=bench&device=d$d&format=json")
    done
    if [ "${CLIENTS:-one}" = many ]; then
        for d in $(seq 0 $((DEVICES - 1))); do
            curl -sf -u "$AUTH" -o /dev/null -w '%{size_download}\n' "${months[$d]}" \
                >"$DIR/size.$d" &
        done
        wait
    else
        local outputs=()
        for d in $(seq 0 $((DEVICES - 1))); do outputs+=(-o /dev/null "${months[$d]}"); done
        curl -sf --no-progress-meter -Z --parallel-max "$DEVICES" -u "$AUTH" -w '%{size_download}\n' \
            "${outputs[@]}" >"$DIR/size.all"
    fi
    t1=$(now_ms)
    echo "$((t1 - t0)) ms, $(cat "$DIR"/size.* | paste -sd+ | bc) bytes, server CPU $(($(server_cpu) - c0)) ms"
}
echo "Frontend burst: $DEVICES devices x $POINTS points, a month each"
for round in $(seq "$ROUNDS"); do
    echo "  round $round: $(burst)"
done

# /api/0/last alone.
for _ in 1 2 3; do curl -sf -u "$AUTH" "$URL/api/0/last" >/dev/null; done
LAST=$(for _ in $(seq 100); do
    curl -sf -u "$AUTH" -o /dev/null -w '%{time_total}\n' "$URL/api/0/last"
done | sort -n | awk '{a[NR]=$1} END {printf "p50 %.1f ms, p99 %.1f ms", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}')
echo "/api/0/last ($DEVICES + 1 devices), 100 sequential: $LAST"

# version while the year streams.
YEAR_START=$(now_ms)
curl -sf -u "$AUTH" -o /dev/null -w '%{size_download}' \
    "$URL/api/0/locations?from=2024-01-01&to=2024-12-31T23:59:59&user=bench&device=year&format=json" \
    >"$DIR/year.size" &
YEAR_PID=$!
: >"$DIR/probes"
for _ in $(seq "$PROBES"); do
    kill -0 "$YEAR_PID" 2>/dev/null || break
    curl -sf -o /dev/null -w '%{time_total}\n' "$URL/api/0/version" >>"$DIR/probes"
    sleep 0.01
done
wait "$YEAR_PID"
YEAR_MS=$(($(now_ms) - YEAR_START))
echo "year of $YEAR_POINTS points as JSON: $YEAR_MS ms, $(cat "$DIR/year.size") bytes"
sort -n "$DIR/probes" | awk '{a[NR]=$1} END {printf "/api/0/version meanwhile: %d answers, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", NR, a[int(NR*0.5)+1]*1000, a[int(NR*0.99)+1]*1000, a[NR]*1000}'
