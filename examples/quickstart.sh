#!/usr/bin/env sh
# Build zinit, start it (no root needed) on the example services with a
# socket under /tmp, and show `zinit list` once the services have settled.
set -eu
cd "$(dirname "$0")/.."
SOCKET=${ZINIT_SOCKET:-/tmp/zinit-example.sock}
LOG=/tmp/zinit-example.log

cargo build --release --quiet
ZINIT=./target/release/zinit

if "$ZINIT" -s "$SOCKET" list >/dev/null 2>&1; then
  echo "zinit is already running on $SOCKET; stop it with: $ZINIT -s $SOCKET shutdown" >&2
  exit 1
fi

"$ZINIT" -s "$SOCKET" init -c examples/services >"$LOG" 2>&1 &
echo "zinit started (pid $!), socket $SOCKET, log $LOG"

# Wait (at most 30 s) until web, the end of the dependency chain, runs.
i=0
until "$ZINIT" -s "$SOCKET" status web 2>/dev/null | grep -q 'state: Running'; do
  i=$((i + 1))
  if [ "$i" -gt 300 ]; then
    echo "services did not settle in 30 s; see $LOG" >&2
    break
  fi
  sleep 0.1
done

"$ZINIT" -s "$SOCKET" list
cat <<MSG

Try:  $ZINIT -s $SOCKET status web
      $ZINIT -s $SOCKET log -s
      $ZINIT -s $SOCKET restart web
Stop: $ZINIT -s $SOCKET shutdown
MSG
