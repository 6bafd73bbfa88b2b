#!/usr/bin/env bash
# Model-checks numaseg's lock-free protocols with loom. Extra arguments go to cargo test (e.g. a
# test name). LOOM_MAX_PREEMPTIONS=1 is the quick local run; CI uses 2. With `expensive-checks`,
# as all our tests.
#
# One failure is retried, and only when run without arguments (as CI does): a model binary whose
# panics are all loom's "Reached unexpected exploration state" (loom found that replaying a
# recorded schedule took a different path: something outside the model's atomics steered it)
# and the two panics loom's unwinding adds after it runs once more, alone, with a warning, and
# its name goes to target/loom/RETRIED (scripts/test.sh repeats it at the end). The one cause
# seen (the page-kind directory's probes followed the regions' addresses) is fixed; the retry is
# a net for one not yet found (docs/RELIABILITY.md, *Interleavings*). Any other failure (an
# assertion, a causality violation, a deadlock, a leak, a target that is not a model binary)
# fails at once.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom -C debug-assertions"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR=target/loom
# One model at a time: two models of a binary running at once move each other's heap addresses,
# which made `thread_exit` nondeterministic in about 1 run in 30 while the page-kind directory's
# probes were modelled (docs/RELIABILITY.md, *Interleavings*); nothing modelled follows them now,
# and one at a time keeps any such dependence not found yet rarer.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-1}"
run() {
    cargo test -p loom-tests --release --features numaseg/expensive-checks "$@"
}
if [ $# -gt 0 ]; then
    run "$@"
    exit
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
rm -f target/loom/RETRIED
if run --no-fail-fast 2>&1 | tee "$log"; then
    exit 0
fi
# Colour codes off, so that the patterns below match.
sed -i 's/\x1b\[[0-9;]*m//g' "$log"
# Every failing target must be a model binary (`--test NAME`); anything else fails at once.
reruns="$(grep -o 'to rerun pass `[^`]*`' "$log" | sort -u)"
[ -n "$reruns" ] || exit 1
if grep -qv 'to rerun pass `-p loom-tests --test [a-z_0-9]*`$' <<<"$reruns"; then
    exit 1
fi
failed="$(sed 's/.*--test \([a-z_0-9]*\)`/\1/' <<<"$reruns")"
# A binary is retried only if every panic in its section of the output is loom's exploration
# state or one of the two that follow it while loom unwinds (no assertion, causality violation,
# deadlock or leak among them), and the exploration state is among them.
for t in $failed; do
    verdict="$(awk -v t="tests/$t.rs" '
        /^ *(Running|Doc-tests) / { inside = index($0, t) > 0 }
        inside && /panicked at/ {
            getline
            if ($0 ~ /^Reached unexpected exploration state/) { seen = 1 }
            else if ($0 !~ /^cannot access Loom execution state from outside a Loom model/ &&
                     $0 !~ /^panic in a destructor during cleanup/) { other = $0 }
        }
        END { if (other != "") print "other: " other; else if (seen) print "retry"; else print "other: no panic found" }' "$log")"
    if [ "$verdict" != retry ]; then
        echo "loom.sh: $t failed ($verdict)" >&2
        exit 1
    fi
done
for t in $failed; do
    echo "loom.sh: WARNING: $t hit loom's 'unexpected exploration state' (a nondeterminism to find: docs/RELIABILITY.md, *Interleavings*); running it once more" >&2
    run --test "$t"
    echo "$t" >>target/loom/RETRIED
done
echo "loom.sh: WARNING: passed only after running again: $(paste -sd' ' target/loom/RETRIED) (docs/RELIABILITY.md)" >&2
