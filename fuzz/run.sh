#!/usr/bin/env bash
# Fuzz zinit's parsers for a short while: what CI runs, on stable Rust.
#
#   fuzz/run.sh [SECONDS]     SECONDS of libFuzzer per target (default 30)
#
# 1. `cargo test` replays every committed input (corpus/ and regressions/)
#    through the targets' checks and mutates them for a few seconds: plain
#    stable Rust, no cargo-fuzz needed.
# 2. cargo-fuzz runs each target under libFuzzer without a sanitizer
#    (`-s none` builds on stable; the parsers are safe Rust, so the checks
#    and panics are what find bugs). Needs `cargo install --locked cargo-fuzz`.
#    New inputs land in fuzz/new/TARGET (not committed); a failing input in
#    fuzz/artifacts/TARGET/, and the run fails.
#
# Longer runs by hand (see docs/reliability.md), e.g. 10 minutes a target:
#   fuzz/run.sh 600
# With AddressSanitizer on a nightly toolchain:
#   RUSTUP_TOOLCHAIN=nightly ZINIT_FUZZ_SANITIZER=address fuzz/run.sh 600
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
sanitizer="${ZINIT_FUZZ_SANITIZER:-none}"
targets=(service_file legacy_line jsonrpc_frame jsonrpc_stream envfile)

echo "== fuzz: corpus replay and mutation smoke (stable)"
ZINIT_FUZZ_SMOKE_SECS="${ZINIT_FUZZ_SMOKE_SECS:-2}" cargo test --release

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install --locked cargo-fuzz" >&2
  exit 1
fi
echo "== fuzz: libFuzzer, ${seconds} s per target, sanitizer ${sanitizer}"
cargo fuzz build --sanitizer "$sanitizer"
for target in "${targets[@]}"; do
  mkdir -p "new/$target"
  dirs=("new/$target" "corpus/$target")
  [ -d "regressions/$target" ] && dirs+=("regressions/$target")
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a blowup.
  echo "-- $target"
  log="new/$target.log"
  status=0
  cargo fuzz run --sanitizer "$sanitizer" "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '#[0-9]+ *DONE|^Done|stat::number_of_executed_units|panicked|ERROR|SUMMARY|Test unit' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
done
echo "fuzz: all targets passed"
