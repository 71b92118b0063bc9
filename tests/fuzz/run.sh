#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 45): stomp-core's `decode` and
# stomp-server's `session`, `sockjs` and `upgrade`, two at a time (each is one thread).
#
#   tests/fuzz/run.sh [SECONDS]
#
# With 45 s the whole step takes about 6 minutes on a 2-core machine from a clean target
# directory (about 4 of them building), about 2 when the builds are up to date.
#
# cargo-fuzz needs nightly-only compiler flags; no nightly toolchain is required here:
# the fuzz builds (and only they) run the stable compiler with RUSTC_BOOTSTRAP=1. No
# sanitizer is used: AddressSanitizer finds memory errors of `unsafe` code, which the code
# under test forbids, and would slow both the build and the runs. The checked-in corpora (`<crate>/fuzz/corpus/<target>/`) seed each run and
# are not modified: new inputs go to `<crate>/fuzz/target/corpus/<target>/`. A crash, a
# hang (`-timeout`) or an input over the memory limit fails the script, and the artifact
# path is printed; check such an input in under `corpus/<target>/` once the bug is fixed,
# so that `cargo test` replays it.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-45}"
root="$(pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# One target directory for both fuzz workspaces, so that what they share (libFuzzer's C++,
# bytes, stomp-core) is built once; 16 codegen units and line tables only build in about
# half the time of cargo-fuzz's defaults (1 unit, full debug info).
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
flags=(--sanitizer none --codegen-units 16 --target-dir "$root/target/fuzz")

for dir in stomp-core stomp-server; do
  echo "== fuzz build ($dir)"
  start=$SECONDS
  (cd "$root/$dir" && cargo fuzz build "${flags[@]}")
  echo "   built in $((SECONDS - start)) s"
done

# Runs one target with the dictionary of its input's language (STOMP, or HTTP for the
# upgrade target); its output goes to a log, summarised (or shown whole) by `report`.
fuzz() {
  local dir=$1 target=$2 dict=stomp
  [ "$target" = upgrade ] && dict=http
  mkdir -p "$root/$dir/fuzz/target/corpus/$target"
  cd "$root/$dir"
  cargo fuzz run "${flags[@]}" "$target" "fuzz/target/corpus/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$root/tests/fuzz/$dict.dict" >"fuzz/target/fuzz-$target.log" 2>&1
}

failed=0
report() {
  local dir=$1 target=$2 status=$3 log="$root/$1/fuzz/target/fuzz-$2.log"
  echo "== fuzz $dir/$target (${seconds} s)"
  if [ "$status" -eq 0 ]; then
    grep -E '^(Done [0-9]+ runs|stat::(average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" || true
  else
    failed=1
    tail -n 80 "$log"
    echo "!! fuzz target $dir/$target failed (exit $status); artifacts:"
    ls -1d "$root/$dir/fuzz/artifacts/$target/"* 2>/dev/null || echo "   (none written)"
  fi
}

pairs=("stomp-core decode stomp-server session" "stomp-server sockjs stomp-server upgrade")
for pair in "${pairs[@]}"; do
  read -r dir1 target1 dir2 target2 <<<"$pair"
  fuzz "$dir1" "$target1" & first=$!
  fuzz "$dir2" "$target2" & second=$!
  status=0; wait "$first" || status=$?
  report "$dir1" "$target1" "$status"
  status=0; wait "$second" || status=$?
  report "$dir2" "$target2" "$status"
done
exit "$failed"
