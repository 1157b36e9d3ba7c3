#!/usr/bin/env bash
# Times `phieu import` and `phieu report` on the generated 10,000-dossier month (BENCHMARKS.md, "Import and
# report"). Make the files first:
#   PHIEU_MONTH_DIR=/tmp/month cargo test --features tools --test month sqlite
# then: tests/month_bench.sh sqlite:/tmp/month/bench.db   (or a postgres:// URL of an empty database)
# B (binary, default target/release/phieu) and D (the files, default /tmp/month) may be set.
set -u
B=${B:-target/release/phieu}
D=${D:-/tmp/month}
DB=$1
now() { date +%s.%N; }
step() {
    local name=$1
    shift
    local s e rc
    s=$(now)
    "$@" >/dev/null 2>&1
    rc=$?
    e=$(now)
    printf "%-9s %6.2f s  (exit %d)\n" "$name" "$(echo "$e - $s" | bc)" "$rc"
}
T0=$(now)
step paper1 "$B" import "$D/p1" --db "$DB" --allow-unreviewed
step paper2 "$B" import "$D/p2" --db "$DB" --allow-unreviewed
step csv "$B" import "$D/electronic.csv" --map "$D/map.json" --db "$DB"
step report "$B" report --db "$DB" --returned "$D/returned.csv" -o "$D/bench.html" -o "$D/bench.xlsx" \
    -o "$D/bench.csv" --followup "$D/bench-followup.csv"
printf "%-9s %6.2f s\n" total "$(echo "$(now) - $T0" | bc)"
file=${DB#sqlite:}
[ "$file" != "$DB" ] && sha256sum "$file"
step reimport sh -c "'$B' import '$D/p1' --db '$DB' --allow-unreviewed; '$B' import '$D/p2' --db '$DB' \
    --allow-unreviewed; '$B' import '$D/electronic.csv' --map '$D/map.json' --db '$DB'"
[ "$file" != "$DB" ] && sha256sum "$file"
exit 0
