// The time-bounded mutation pass over what a change touched (`npm run test:mutation:changed`,
// a stage of `npm test`). It compares the tree with BASE (an argument; else the merge base
// with main, or HEAD~1 when HEAD is on main) and, for each module of stryker.config.mjs:
//   - code changed: mutates only the changed lines of its files (not comments, blank lines);
//   - only its unit tests changed: mutates the whole module (a weaker test shows anywhere).
// Must-kill modules go first. The whole pass stops at BERTH_MUTATION_BUDGET seconds (default
// 240; 0 skips the pass): a module still running then is stopped, and the summary says how
// many of its planned mutants were tested. It fails when a tested mutant of a must-kill
// module survives, when the score of a module's tested mutants is below the threshold, or
// when Stryker itself fails; never for running out of time (the full run is
// `npm run test:mutation`). Needs no earlier run: nothing incremental is read or written.
// `--plan` prints what would be mutated and stops.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import console from "node:console";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";
import config, { MODULES } from "../stryker.config.mjs";

const budgetMs = Number(process.env.BERTH_MUTATION_BUDGET ?? 240) * 1000;
/** Kept free at the end: a stopped Stryker gets this long to exit before it is killed. */
const STOP_GRACE_MS = 10_000;
/** Less than this left: a module is not started (Stryker's start-up alone takes about that). */
const MIN_RUN_MS = 45_000;
const THRESHOLD = config.thresholds?.low ?? 80;
const LOG_DIR = "reports/mutation/changed";

const git = (...args) => execFileSync("git", args, { encoding: "utf8" }).trim();
const gitOk = (...args) => {
  try {
    return git(...args);
  } catch {
    return undefined;
  }
};

function resolveBase(given) {
  if (given) return given;
  const head = git("rev-parse", "HEAD");
  const mergeBase = gitOk("merge-base", "main", "HEAD");
  if (mergeBase && mergeBase !== head) return mergeBase;
  return gitOk("rev-parse", "--verify", "-q", "HEAD~1");
}

/** A line that holds no code: blank, or only (part of) a comment. */
const noCode = (line) => /^\s*(\/\/.*|\/\*.*|\*.*)?$/.test(line);

/**
 * Line ranges of `file` (in the working tree) that differ from `base`, leaving out changes
 * to comments and blank lines only; undefined: all of it (a new file).
 */
function changedRanges(base, file) {
  if (gitOk("cat-file", "-e", `${base}:${file}`) === undefined) return undefined;
  const ranges = [];
  const hunks = git("diff", "-U0", base, "--", file)
    .split(/^(?=@@ )/m)
    .slice(1);
  for (const hunk of hunks) {
    const match = /^@@ -\S+ \+(\d+)(?:,(\d+))? @@/.exec(hunk);
    if (!match) continue;
    const changedLines = hunk.split("\n").filter((line) => /^[-+]/.test(line));
    if (changedLines.every((line) => noCode(line.slice(1)))) continue;
    const start = Number(match[1]);
    const count = match[2] === undefined ? 1 : Number(match[2]);
    // Lines only removed: the code around the removal is what changed.
    ranges.push(count === 0 ? [Math.max(1, start), start + 1] : [start, start + count - 1]);
  }
  return ranges;
}

/** What each touched module mutates: ["file", "file:12-20", ...]; must-kill modules first. */
function plan(base) {
  const changed = new Set(git("diff", "--name-only", base, "--").split("\n").filter(Boolean));
  const runs = [];
  for (const [name, module] of Object.entries(MODULES)) {
    const mutate = [];
    for (const file of module.mutate.filter((f) => changed.has(f) && existsSync(f))) {
      const ranges = changedRanges(base, file);
      if (ranges === undefined) mutate.push(file);
      else for (const [from, to] of ranges) mutate.push(`${file}:${from}-${to}`);
    }
    const testsOnly = mutate.length === 0 && module.tests.some((f) => changed.has(f));
    if (testsOnly) mutate.push(...module.mutate);
    if (mutate.length > 0) runs.push({ name, mustKill: module.mustKill === true, mutate, testsOnly });
  }
  return runs.sort((a, b) => Number(b.mustKill) - Number(a.mustKill));
}

/** Runs Stryker on one module's scope until done or `deadline`; resolves with how it ended. */
function runStryker(run, log, deadline) {
  return new Promise((resolve) => {
    const child = spawn("nice", ["-n", "19", "npx", "stryker", "run", "stryker.config.mjs"], {
      // Its own process group, so stopping it reaches the test runner and checker it started.
      detached: true,
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...process.env,
        BERTH_MUTATION_MODULE: run.name,
        BERTH_MUTATION_MUTATE: JSON.stringify(run.mutate),
        BERTH_MUTATION_LOG: log,
      },
    });
    let stopped = false;
    const signal = (name) => {
      try {
        process.kill(-child.pid, name);
      } catch {
        // Already gone.
      }
    };
    const stopTimer = setTimeout(
      () => {
        stopped = true;
        signal("SIGINT");
        setTimeout(() => signal("SIGKILL"), STOP_GRACE_MS / 2).unref();
      },
      Math.max(0, deadline - Date.now()),
    );
    child.on("exit", (code) => {
      clearTimeout(stopTimer);
      resolve(stopped ? "stopped at the budget" : code === 0 ? "done" : `Stryker failed (exit ${code})`);
    });
  });
}

function summarize(log) {
  const counts = {};
  const gaps = [];
  let planned;
  const lines = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
  for (const entry of lines.map((line) => JSON.parse(line))) {
    if (entry.planned !== undefined) {
      planned = entry.planned;
      continue;
    }
    counts[entry.status] = (counts[entry.status] ?? 0) + 1;
    if (entry.status === "Survived" || entry.status === "NoCoverage") gaps.push(entry);
  }
  const detected = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
  const valid = detected + (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
  const tested = Object.values(counts).reduce((a, b) => a + b, 0);
  return { counts, gaps, planned, tested, score: valid === 0 ? undefined : (100 * detected) / valid };
}

const started = Date.now();
if (budgetMs <= 0) {
  console.log("mutation pass over the change: skipped (BERTH_MUTATION_BUDGET=0)");
  process.exit(0);
}
const args = process.argv.slice(2);
const base = resolveBase(args.find((arg) => !arg.startsWith("--")));
if (!base) {
  console.log(
    "mutation pass over the change: no earlier commit to compare with (a shallow clone?); nothing tested",
  );
  process.exit(0);
}
const runs = plan(base);
console.log(`mutation pass over the change since ${base.slice(0, 12)}, budget ${budgetMs / 1000} s`);
if (runs.length === 0) {
  console.log("no module's code or unit tests changed");
  process.exit(0);
}
if (args.includes("--plan")) {
  for (const run of runs)
    console.log(`${run.name}${run.mustKill ? " (must kill)" : ""}: ${run.mutate.join(" ")}`);
  process.exit(0);
}
mkdirSync(LOG_DIR, { recursive: true });
const deadline = started + budgetMs - STOP_GRACE_MS;
const failures = [];
const report = [];
for (const run of runs) {
  const scope = run.testsOnly ? "whole module (its tests changed)" : run.mutate.join(" ");
  if (deadline - Date.now() < MIN_RUN_MS) {
    report.push(`${run.name}: not started, the budget is spent (scope: ${scope})`);
    continue;
  }
  const log = `${LOG_DIR}/${run.name}.jsonl`;
  writeFileSync(log, "");
  console.log(`\n==> ${run.name}${run.mustKill ? " (must kill every mutant)" : ""}: ${scope}`);
  const runStarted = Date.now();
  const ended = await runStryker(run, log, deadline);
  // A stopped Stryker leaves its sandbox behind.
  rmSync(".stryker-tmp-changed", { recursive: true, force: true });
  const { counts, gaps, planned, tested, score } = summarize(log);
  const seconds = Math.round((Date.now() - runStarted) / 1000);
  const scoreText = score === undefined ? "no score (no testable mutant)" : `score ${score.toFixed(2)}%`;
  report.push(
    `${run.name}: ${ended} in ${seconds} s; tested ${tested} of ${planned ?? "?"} planned mutants; ` +
      `${scoreText}; ${JSON.stringify(counts)}`,
  );
  for (const gap of gaps) {
    report.push(`  ${gap.status} ${gap.file}:${gap.line}:${gap.column} ${gap.mutator} -> ${gap.replacement}`);
  }
  if (ended.startsWith("Stryker failed")) failures.push(`${run.name}: ${ended}`);
  if (run.mustKill && gaps.length > 0)
    failures.push(`${run.name}: ${gaps.length} mutant(s) not killed in a must-kill module`);
  if (score !== undefined && score < THRESHOLD)
    failures.push(`${run.name}: score ${score.toFixed(2)}% < ${THRESHOLD}%`);
}
console.log(`\nmutation pass over the change, ${Math.round((Date.now() - started) / 1000)} s:`);
for (const line of report) console.log(line);
if (failures.length > 0) {
  console.log(`FAILED:\n${failures.map((f) => `  ${f}`).join("\n")}`);
  console.log("Kill each surviving mutant with a test, or mark an equivalent one in the code:");
  console.log("  // Stryker disable next-line <Mutator>: why no test can tell the difference");
  process.exit(1);
}
