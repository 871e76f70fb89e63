# Shared helpers of the CLI tests (sourced, not run; ctest runs test_*.sh).
#   ok / bad MESSAGE          count a passed / failed check (bad prints FAIL)
#   expect_error NAME SUBSTRING CMD...
#                             CMD must exit 2 with exactly one stderr line
#                             containing SUBSTRING and leave no new or
#                             changed file names in the working folder
#   finish NAME               prints the counts; exit status 0 iff no failure
pass=0
fail=0
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
