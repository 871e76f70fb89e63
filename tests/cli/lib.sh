# Shared helpers of the CLI tests (sourced, not run; ctest runs test_*.sh).
#   ok / bad MESSAGE          count a passed / failed check (bad prints FAIL)
#   expect_error NAME SUBSTRING CMD...
#                             CMD must exit 2 with exactly one stderr line
#                             containing SUBSTRING and leave no new or
#                             changed file names in the working folder
#   in_scratch NAME           cd into a fresh /tmp/ab_NAME_XXXXXX (in $T),
#                             removed at exit
#   jget FILE KEY             a top-level number or boolean of FILE's last
#                             (JSON) line
#   run_killed CONFIG LAUNCH...
#                             a search resumed and killed (-9) at a random moment
pass=0
fail=0
in_scratch() {
  T=$(mktemp -d "/tmp/ab_$1_XXXXXX") || exit 1
  trap 'rm -rf "$T"' EXIT
  cd "$T" || exit 1
}
jget() {
  tail -1 "$1" | sed -n "s/.*\"$2\":\([-0-9.eE+a-z]*\).*/\1/p"
}
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_error() {
  local name=$1 want=$2
  shift 2
  local before after
  before=$(ls -A | grep -v -x -e out.txt -e err.txt | sort)
  "$@" > out.txt 2> err.txt
  local rc=$?
  after=$(ls -A | grep -v -x -e out.txt -e err.txt | sort)
  if [ $rc -ne 2 ]; then bad "$name: exit $rc, expected 2 ($(cat err.txt))"; return; fi
  if [ "$(wc -l < err.txt)" -ne 1 ]; then bad "$name: expected one error line, got: $(cat err.txt)"; return; fi
  if ! grep -qF -- "$want" err.txt; then bad "$name: '$want' not in: $(cat err.txt)"; return; fi
  if [ "$before" != "$after" ]; then bad "$name: files changed: $(diff <(echo "$before") <(echo "$after"))"; return; fi
  ok
}
# run_killed CONFIG LAUNCH...: `$AB search --config CONFIG --resume` under the
# launcher (none, or e.g. mpirun -np 3), kill -9 of the coordinator after a
# random 0.1-0.9 s; output in kill.out / kill.err
run_killed() {
  local cfg=$1
  shift
  "$@" "$AB" search --config "$cfg" --resume --json > kill.out 2> kill.err &
  local pid=$!
  sleep "0.$(( (RANDOM % 9) + 1 ))"
  # the coordinator: the launched process whose rank is 0 (or the plain one)
  local target=$pid
  for p in $(pgrep -P $pid); do
    if grep -qz '^OMPI_COMM_WORLD_RANK=0$' /proc/$p/environ 2> /dev/null; then target=$p; fi
  done
  kill -9 $target 2> /dev/null
  # mpirun normally ends the job when a rank dies; if it does not within
  # 15 s (Open MPI can hang on a SIGKILLed rank), end the launcher too
  for _ in $(seq 1 150); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
  pkill -9 -P $pid 2> /dev/null
  kill -9 $pid 2> /dev/null
  wait $pid 2> /dev/null
  return 0
}
