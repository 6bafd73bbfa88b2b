#!/usr/bin/env bash
# Mutation run for numaseg's concurrency code: does each loom model and stress test catch the bug
# it exists for? Breaks the code on purpose, one mutation at a time, and runs the checks that
# guard the mutated file.
#
# Usage: scripts/mutants.sh [--sample] [--list] [--only ID]... [--out FILE]
#   (no flag)  the whole catalogue (108 mutants, half an hour or more on 2 cores); a markdown table and the
#              score go to target/mutants/report.md (or --out)
#   --sample   a small fixed sample (the two named mutations the issue found surviving and three
#              weakened orderings, one of them the owned ring's entry store, which no model
#              caught until 2026-12-08), each expected killed: proves the harness works (CI)
#   --list     prints the catalogue and checks that every named snippet is still in the code
#   --only ID  runs the mutants whose id contains ID (repeatable)
#
# The catalogue is generated from the code, so it follows refactors:
#   - in every file of FILES, each `Ordering::Release/Acquire/AcqRel/SeqCst` outside comments and
#     unit tests is weakened (to Relaxed; AcqRel also to Acquire and to Release), and each fence
#     removed;
#   - the named semantic mutations below (an exact snippet of a file, its replacement and why);
#     a named snippet that is not found exactly once fails the script, so a refactor cannot drop
#     one silently.
# Each mutant is applied to a scratch copy of the tree (target/mutants/src; the working tree is
# never edited), built, and run against the checks mapped to its file: the loom models first
# (LOOM_MAX_PREEMPTIONS=1 unless set), then, if they all pass, the conservation and stress tests
# of tests/all. Classified killed / survived / build-failed / timeout, then restored.
set -euo pipefail
cd "$(dirname "$0")/.."

# The lock-free and protocol files (paths as they are in the tree; a missing file fails the run).
FILES=(
  src/cache/mod.rs
  src/cache/steal.rs
  src/core/node.rs
  src/sync/budget.rs
  src/buffer_pool/local.rs
  src/buffer_pool/lane.rs
  src/buffer_pool/ring.rs
  src/buffer_pool/availability.rs
  src/buffer_pool/buffer.rs
  src/buffer_pool/credit/receiver.rs
  src/buffer_pool/credit/sender.rs
  src/buffer_pool/credit/link.rs
  src/manager/mod.rs
  src/manager/owner.rs
  src/manager/shared.rs
)

# Checks per file (first matching glob): loom model files | tests/all filters.
CHECKS=(
  "src/buffer_pool/local.rs|buffer_inbox_orderings local_stack buffer_inbox buffer_pool credit|buffer_pool conservation"
  "src/buffer_pool/lane.rs|buffer_requester buffer_inbox buffer_pool|buffer_requester buffer_pool conservation"
  "src/buffer_pool/ring.rs|ring_laps buffer_requester|buffer_requester buffer_pool conservation"
  "src/buffer_pool/buffer.rs|shared_buffer buffer_pool buffer_pool_destroy credit|buffer_pool credit conservation"
  "src/buffer_pool/*|buffer_pool buffer_pool_destroy buffer_inbox credit|buffer_pool credit conservation"
  "src/manager/*|reserve_wait memory_manager owner_pages|manager conservation"
  "*|node_pool_count budget cache_steal mutual_steal foreign_free region_reclaim thread_exit|conservation arena"
)

export MUTANT_FILES="${FILES[*]}"
MUTANT_CHECKS="$(printf '%s\n' "${CHECKS[@]}")"
export MUTANT_CHECKS
exec nice python3 - "$@" <<'PY'
import os, re, subprocess, sys, time, fnmatch, shutil, argparse

# Named semantic mutations: (id, file, exact snippet, replacement, why). Each snippet must occur
# exactly once in its file.
NAMED = [
    ("local-stack-aba-tag", "src/buffer_pool/local.rs",
     "(word & !(TOP_MASK | SLOW)).wrapping_add(TAG_ONE) | top | slow",
     "(word & !(TOP_MASK | SLOW)) | top | slow",
     "the local pool stack's ABA tag: next_word keeps the old tag"),
    ("local-stack-push-ignores-slow", "src/buffer_pool/local.rs",
     "            if word & SLOW != 0 {\n                return false;\n            }\n            Self::link_slot(slots, s, word);",
     "            Self::link_slot(slots, s, word);",
     "a recycle pushes although the slow flag asks for the lock (notification, shrink, destroy)"),
    ("local-mark-unavailable-ignores-top", "src/buffer_pool/local.rs",
     "            if word & TOP_MASK != 0 {\n                if word & SLOW == 0 {\n                    self.open_inbox();\n                    self.open_lane();\n                }\n                return false;\n            }\n            if word & SLOW != 0 {\n                return true;",
     "            if word & SLOW != 0 {\n                return true;",
     "marking unavailable does not re-check that the stack is still empty (lost wake-up)"),
    ("pool-request-no-recheck-after-mark", "src/buffer_pool/mod.rs",
     "            if !core.mark_unavailable_if_empty() {\n                continue;\n            }",
     "            let _ = core.mark_unavailable_if_empty();",
     "a requester that finds a buffer came back while it marked the pool unavailable does not go round"),
    ("ring-push-ignores-stop", "src/buffer_pool/lane.rs",
     "let put = asymmetric::load_after_light(&head.stop) & STOPPED == 0 && ring.put(pos, slot);",
     "let put = ring.put(pos, slot);",
     "a recycler puts into its owned ring without reading the stop word after marking itself busy"),
    ("ring-close-no-wait", "src/buffer_pool/lane.rs",
     "            self.rings.iter().for_each(|ring| ring.wait_idle(forked));\n",
     "",
     "the closer does not wait for a push in flight into a ring (it may miss the entry)"),
    ("reserve-bytes-no-wait", "src/manager/mod.rs",
     "            if !returns_pending {\n                break;\n            }\n            thread::yield_now();",
     "            let _ = returns_pending;\n            break;",
     "Shared::reserve_bytes refuses without waiting for give-backs in progress"),
    ("reserve-bytes-no-reclaim", "src/manager/mod.rs",
     "        self.reclaim_credit();\n        loop {",
     "        loop {",
     "a refused reservation does not take other owners' idle credit back"),
    ("charge-no-wait", "src/manager/owner.rs",
     "            } else if returns_pending {",
     "            } else if returns_pending && false {",
     "an allocation refuses without waiting for give-backs in progress"),
    ("charge-no-reclaim", "src/manager/owner.rs",
     "            } else if !reclaimed {",
     "            } else if !reclaimed && false {",
     "an allocation the budget refuses does not take idle credit back"),
    ("trim-not-announced", "src/manager/owner.rs",
     "            giving_back.get_or_insert_with(|| self.manager.giving_back());\n",
     "            giving_back.get_or_insert_with(|| self.manager.giving_back());\n            giving_back = None;\n",
     "trim withdraws its announcement before the credit leaves the word"),
    ("finish-not-announced", "src/manager/owner.rs",
     "        let _giving_back = self.manager.giving_back();\n        // After this nobody else",
     "        // After this nobody else",
     "an ending owner gives its charge back without announcing it"),
    ("trim-store-not-cas", "src/manager/owner.rs",
     "            match self.word.compare_exchange_weak(\n                current,\n                pack(target, allocated),",
     "            self.word.store(pack(target, allocated), Ordering::Release);\n            match self.word.compare_exchange_weak(\n                pack(target, allocated),\n                pack(target, allocated),",
     "trim stores its word instead of compare-and-swapping it (loses a racing claim)"),
    ("revoke-no-epoch-bump", "src/manager/owner.rs",
     "        self.hot.epoch.fetch_add(1, Ordering::Release);\n",
     "",
     "release_all does not bump the owner's epoch (pages are not revoked)"),
    ("node-pool-publish-before-count", "src/core/node.rs",
     "        self.pooled.fetch_add(n, Ordering::Relaxed);\n        self.pool.push(batch).inspect_err(|_| {\n            self.pooled.fetch_sub(n, Ordering::Relaxed);\n        })",
     "        let pushed = self.pool.push(batch);\n        if pushed.is_ok() {\n            self.pooled.fetch_add(n, Ordering::Relaxed);\n        }\n        pushed",
     "a node pool batch is published before it is counted (the counter can wrap below zero)"),
]

# The fixed sample CI runs (ids of the catalogue; each must be killed).
SAMPLE = [
    "local-stack-aba-tag",
    "reserve-bytes-no-wait",
    "src/buffer_pool/local.rs:try_push_slot#1 Release->Relaxed",
    "src/manager/owner.rs:trim#1 Release->Relaxed",
    "src/buffer_pool/ring.rs:put#1 Release->Relaxed",
]

ap = argparse.ArgumentParser(prog="scripts/mutants.sh")
ap.add_argument("--sample", action="store_true")
ap.add_argument("--list", action="store_true")
ap.add_argument("--only", action="append", default=[])
ap.add_argument("--out", default="target/mutants/report.md")
args = ap.parse_args()

files = os.environ["MUTANT_FILES"].split()
checks = [line.split("|") for line in os.environ["MUTANT_CHECKS"].splitlines() if line.strip()]

def die(msg):
    print(f"mutants: {msg}", file=sys.stderr)
    sys.exit(2)

def checks_for(path):
    for glob, loom, alltests in checks:
        if fnmatch.fnmatch(path, glob):
            return loom.split(), alltests.split()
    die(f"no checks mapped to {path}")

ORD = re.compile(r"\bOrdering::(Release|Acquire|AcqRel|SeqCst)\b")
FENCE = re.compile(r"\bfence\(Ordering::\w+\)\s*;")
FN = re.compile(r"\bfn\s+(\w+)")
WEAKER = {"Release": ["Relaxed"], "Acquire": ["Relaxed"], "AcqRel": ["Acquire", "Release", "Relaxed"],
          "SeqCst": ["Relaxed"]}

def code_end(text):
    """Offset where the file's unit tests start (not mutated)."""
    m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod\s+\w+", text, re.M)
    return m.start() if m else len(text)

def in_comment(text, pos):
    line_start = text.rfind("\n", 0, pos) + 1
    return "//" in text[line_start:pos]

def enclosing_fn(text, pos):
    names = FN.findall(text[:pos])
    return names[-1] if names else "top"

def catalogue():
    mutants = []
    for path in files:
        if not os.path.isfile(path):
            die(f"{path} (FILES) does not exist: update the list at the top of scripts/mutants.sh")
        text = open(path).read()
        end = code_end(text)
        seen = {}
        fences = [m for m in FENCE.finditer(text) if m.start() < end and not in_comment(text, m.start())]
        fence_spans = [(m.start(), m.end()) for m in fences]
        for m in fences:
            f = enclosing_fn(text, m.start())
            seen[(f, "fence")] = seen.get((f, "fence"), 0) + 1
            mid = f"{path}:{f}#{seen[(f, 'fence')]} fence removed"
            mutants.append(dict(id=mid, file=path, start=m.start(), end=m.end(), new="",
                                line=text.count("\n", 0, m.start()) + 1, why="fence removed"))
        for m in ORD.finditer(text):
            if m.start() >= end or in_comment(text, m.start()):
                continue
            if any(a <= m.start() < b for a, b in fence_spans):
                continue
            old = m.group(1)
            f = enclosing_fn(text, m.start())
            seen[(f, old)] = seen.get((f, old), 0) + 1
            for new in WEAKER[old]:
                mid = f"{path}:{f}#{seen[(f, old)]} {old}->{new}"
                mutants.append(dict(id=mid, file=path, start=m.start(), end=m.end(), new=f"Ordering::{new}",
                                    line=text.count("\n", 0, m.start()) + 1, why=f"{old} weakened to {new}"))
    for mid, path, snippet, repl, why in NAMED:
        if not os.path.isfile(path):
            die(f"named mutation {mid}: {path} does not exist")
        text = open(path).read()
        n = text.count(snippet)
        if n != 1:
            die(f"named mutation {mid}: snippet found {n} times in {path} (expected once): {snippet!r}")
        start = text.index(snippet)
        mutants.append(dict(id=mid, file=path, start=start, end=start + len(snippet), new=repl,
                            line=text.count("\n", 0, start) + 1, why=why))
    ids = [m["id"] for m in mutants]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        die(f"duplicate mutant ids: {sorted(dup)}")
    return mutants

mutants = catalogue()
if args.list:
    for m in mutants:
        lo, al = checks_for(m["file"])
        print(f"{m['id']}  (line {m['line']}: {m['why']}; loom: {' '.join(lo)}; tests/all: {' '.join(al)})")
    print(f"{len(mutants)} mutants")
    sys.exit(0)
if args.sample:
    by_id = {m["id"]: m for m in mutants}
    missing = [s for s in SAMPLE if s not in by_id]
    if missing:
        die(f"sample mutants not in the catalogue: {missing}")
    mutants = [by_id[s] for s in SAMPLE]
if args.only:
    mutants = [m for m in mutants if any(o in m["id"] for o in args.only)]
    if not mutants:
        die("--only matched nothing")

ROOT = os.getcwd()
SCRATCH = os.path.join(ROOT, "target/mutants/src")
LOOM_TARGET = os.path.join(ROOT, "target/mutants/loom")
TEST_TARGET = os.path.join(ROOT, "target/mutants/test")
TIMEOUT = int(os.environ.get("MUTANT_TIMEOUT", "300"))
# tests/all starts from the build cargo test left (a copy: the mutants' builds must not touch it),
# so only numaseg and the test are rebuilt. (The loom builds use a profile of their own, below.)
def seed(src, dest):
    if os.path.isdir(src) and not os.path.isdir(dest):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        subprocess.run(["cp", "-a", src, dest], check=True)
preemptions = os.environ.get("LOOM_MAX_PREEMPTIONS", "1")

# A scratch copy of the tree as it is (tracked and untracked files, not ignored ones).
listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                        capture_output=True).stdout.split(b"\0")
if os.path.isdir(SCRATCH):
    shutil.rmtree(SCRATCH)
for rel in listed:
    if not rel:
        continue
    rel = rel.decode()
    if not os.path.isfile(rel):
        continue
    dst = os.path.join(SCRATCH, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy(rel, dst)  # a fresh mtime: cargo must not trust artifacts of an earlier mutant

def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

def run(cmd, env_extra, timeout):
    env = dict(os.environ, **env_extra)
    try:
        p = subprocess.run(cmd, cwd=SCRATCH, env=env, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return None, ""

# Builds tuned for one changed line at a time: incremental, less optimisation, no debug info.
# (The loom models keep their debug assertions, as in scripts/loom.sh.)
QUICK = {"CARGO_PROFILE_RELEASE_INCREMENTAL": "true", "CARGO_PROFILE_RELEASE_OPT_LEVEL": "1",
         "CARGO_PROFILE_RELEASE_DEBUG": "false", "CARGO_INCREMENTAL": "1"}
LOOM_ENV = dict(QUICK, RUSTFLAGS="--cfg loom -C debug-assertions", LOOM_MAX_PREEMPTIONS=preemptions,
                CARGO_TARGET_DIR=LOOM_TARGET)
TEST_ENV = {"CARGO_TARGET_DIR": TEST_TARGET}
# The checks run with the slow internal consistency checks on, as scripts/loom.sh and
# scripts/test.sh run them.
LOOM_FEATURES = ["--features", "numaseg/expensive-checks"]
TEST_FEATURES = ["--features", "expensive-checks"]

def test_names(output):
    """The failed tests (the list cargo test prints at the end), or the panic message."""
    failed = re.findall(r"^test (\S+) \.\.\. FAILED", output, re.M)
    if not failed and "\nfailures:\n" in output:
        tail = output.rsplit("\nfailures:\n", 1)[1]
        failed = re.findall(r"^    (\S+)$", tail, re.M)
    if not failed:  # a panic inside a loom model: its thread is named after the test
        failed = list(dict.fromkeys(re.findall(r"^thread '([^']+)' \(\d+\) panicked", output, re.M)))
    return failed or ["(no test named; see target/mutants/logs)"]

LOGS = os.path.join(ROOT, "target/mutants/logs")
os.makedirs(LOGS, exist_ok=True)

def keep(m, out):
    """Keeps a failing check's output, for the record."""
    name = re.sub(r"[^A-Za-z0-9_.#-]+", "_", m["id"])
    with open(os.path.join(LOGS, name + ".log"), "w") as f:
        f.write(out)

def check(m, loom_only=False):
    """(status, what failed)."""
    loom, alltests = checks_for(m["file"])
    tests = [a for t in loom for a in ("--test", t)]
    rc, out = run(["cargo", "test", "-p", "loom-tests", "--release", *LOOM_FEATURES, "--no-run", *tests], LOOM_ENV, 1800)
    if rc != 0:
        return ("build-failed", out.strip().splitlines()[-1] if out.strip() else "timeout")
    for t in loom:
        rc, out = run(["cargo", "test", "-p", "loom-tests", "--release", *LOOM_FEATURES, "--test", t], LOOM_ENV, TIMEOUT)
        if rc is None:
            return ("timeout", f"loom {t}")
        if rc != 0:
            keep(m, out)
            return ("killed", f"loom {t}: " + ", ".join(test_names(out)[:2]))
    if loom_only:
        return ("survived", "")
    seed("target/debug", os.path.join(TEST_TARGET, "debug"))
    rc, out = run(["cargo", "test", "-p", "numaseg", *TEST_FEATURES, "--test", "all", "--no-run"], TEST_ENV, 1800)
    if rc != 0:
        return ("build-failed", "tests/all")
    rc, out = run(["cargo", "test", "-p", "numaseg", *TEST_FEATURES, "--test", "all", "--", *alltests], TEST_ENV, TIMEOUT)
    if rc is None:
        return ("timeout", "tests/all " + " ".join(alltests))
    if rc != 0:
        keep(m, out)
        return ("killed", "tests/all: " + ", ".join(test_names(out)[:2]))
    return ("survived", "")

def apply(m, mutate):
    src = os.path.join(ROOT, m["file"])
    dst = os.path.join(SCRATCH, m["file"])
    text = open(src).read()
    if mutate:
        text = text[: m["start"]] + m["new"] + text[m["end"] :]
    with open(dst, "w") as f:
        f.write(text)

# The unmutated tree must pass every check it will be judged by (in the sample, the loom models:
# each sample mutant is expected to be killed by one, and CI has just run tests/all).
log(f"baseline: {len(mutants)} mutants to run, LOOM_MAX_PREEMPTIONS={preemptions}")
groups = {}
for m in mutants:
    groups.setdefault(tuple(map(tuple, checks_for(m["file"]))), m)
for m in groups.values():
    status, what = check(m, loom_only=args.sample)
    if status != "survived":
        die(f"the unmutated tree fails its checks for {m['file']}: {status} {what}")
log("baseline passes")

results = []
started = time.time()
for i, m in enumerate(mutants, 1):
    t0 = time.time()
    apply(m, True)
    try:
        status, what = check(m)
    finally:
        apply(m, False)
    secs = time.time() - t0
    results.append((m, status, what, secs))
    log(f"{i}/{len(mutants)} {status:12} {m['id']}  {what}  ({secs:.0f} s)")

counts = {s: sum(1 for r in results if r[1] == s) for s in ("killed", "timeout", "survived", "build-failed")}
judged = counts["killed"] + counts["timeout"] + counts["survived"]
score = 100.0 * (counts["killed"] + counts["timeout"]) / judged if judged else 0.0
lines = [
    f"Mutation run of {time.strftime('%Y-%m-%d %H:%M')} (`scripts/mutants.sh{' --sample' if args.sample else ''}`, "
    f"LOOM_MAX_PREEMPTIONS={preemptions}, {time.time() - started:.0f} s):",
    "",
    "| Mutant | Line | Mutation | Result | Caught by |",
    "|---|---|---|---|---|",
]
for m, status, what, _ in results:
    lines.append(f"| `{m['id']}` | {m['line']} | {m['why']} | {status} | {what} |")
lines += ["", f"Score: {counts['killed'] + counts['timeout']} of {judged} killed ({score:.0f}%); "
          f"{counts['killed']} killed, {counts['timeout']} timeout, {counts['survived']} survived, "
          f"{counts['build-failed']} build-failed."]
report = "\n".join(lines) + "\n"
os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
with open(args.out, "w") as f:
    f.write(report)
print(report)
if args.sample and (counts["killed"] + counts["timeout"]) != len(results):
    die("a sample mutant was not killed: the harness or a check is broken")
PY
