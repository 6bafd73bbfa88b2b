#!/usr/bin/env bash
# Measures hand-off rows over many heap layouts, binaries alternated, and prints quartiles.
#
#   scripts/layout-sweep.sh [-n LAYOUTS] [-b BLOCKS] LABEL=BINARY:WORKLOAD ...
#
# Each LABEL=BINARY:WORKLOAD runs `BINARY WORKLOAD BLOCKS pin` (the interface of
# `examples/motion_diag`) once per layout; the binaries take turns within each layout, so a
# change of the VM's state hits all of them alike. A run prints three rates ("… M blocks/s");
# the sweep keeps their median, and prints per label the minimum, quartiles and maximum over
# the layouts, then one line per layout.
#
# Why layouts: numaseg's settings read every environment variable (`Config` walks
# `std::env::vars_os`, which copies the environment onto the heap), so the environment's size
# moves every later heap allocation: the pool cores, the ring, the threads' buffers. The
# hand-off rows depend on those placements (docs/BENCHMARKS.md, *Fifteenth* and *Seventeenth
# pass*): one binary ran at 6–30 M/s over 64 layouts. The sweep varies the layout with one
# extra variable, LAYOUT_PAD, of 0, 64, 128, … bytes. Comparing two binaries at one layout
# each can show a 3× difference that is the layouts', not the code's.
#
# Example (main against a change, and the simple thread-local cache as a peer):
#   cargo build --release --features cli,bench --example motion_diag
#   cp target/release/examples/motion_diag /tmp/md_main   # then build the change
#   scripts/layout-sweep.sh -n 32 main=/tmp/md_main:buffers-requester \
#     change=target/release/examples/motion_diag:buffers-requester tls=/tmp/md_main:tls-buffer
set -euo pipefail

layouts=32
blocks=1000000
while getopts "n:b:" opt; do
  case "$opt" in
    n) layouts=$OPTARG ;;
    b) blocks=$OPTARG ;;
    *) sed -n '2,4p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if (($# == 0)); then
  sed -n '2,4p' "$0" >&2
  exit 2
fi

labels=()
bins=()
workloads=()
for spec in "$@"; do
  label=${spec%%=*}
  rest=${spec#*=}
  bin=${rest%:*}
  workload=${rest##*:}
  if [[ "$label" == "$spec" || "$bin" == "$rest" || ! -x "$bin" ]]; then
    echo "layout-sweep: '$spec' is not LABEL=BINARY:WORKLOAD with an executable BINARY" >&2
    exit 2
  fi
  labels+=("$label")
  bins+=("$bin")
  workloads+=("$workload")
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((layout = 0; layout < layouts; layout++)); do
  pad=$(head -c $((layout * 64)) /dev/zero | tr '\0' a)
  for i in "${!labels[@]}"; do
    rates=$(LAYOUT_PAD="$pad" "${bins[$i]}" "${workloads[$i]}" "$blocks" pin 2>&1 \
      | grep -o '[0-9.]* M blocks/s' | awk '{print $1}' | sort -g | tr '\n' ' ')
    read -r -a r <<< "$rates"
    if ((${#r[@]} == 0)); then
      echo "layout-sweep: ${labels[$i]} printed no rate at layout $layout" >&2
      exit 1
    fi
    median=${r[$((${#r[@]} / 2))]}
    echo "$layout ${labels[$i]} $median ${rates}" >> "$out"
  done
done

echo "M blocks/s over $layouts layouts (median of each run's rates), $blocks blocks a run:"
for label in "${labels[@]}"; do
  awk -v l="$label" '$2 == l {print $3}' "$out" | sort -g | awk -v l="$label" '
    { v[NR] = $1 }
    END { printf "%-12s min %6.2f  q1 %6.2f  median %6.2f  q3 %6.2f  max %6.2f\n", l, v[1],
          v[int((NR - 1) / 4) + 1], v[int((NR - 1) / 2) + 1], v[int(3 * (NR - 1) / 4) + 1], v[NR] }'
done
echo "per layout (pad bytes / 64, label, median, the run's rates):"
cat "$out"
