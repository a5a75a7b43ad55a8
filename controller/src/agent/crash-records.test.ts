import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CRASH_RECORDS_FILE, CrashRecords } from "./crash-records.js";

function stateDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-crash-records-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a back-off outlives the agent: what one process recorded the next one reads", (t) => {
  const dir = stateDir(t);
  const first = new CrashRecords(dir, 1_000);
  first.set("ns/web-0", { containerId: "c2", crashes: 2, restartAt: 11_000 });
  first.set("ns/api-0", { containerId: "c7", crashes: 1, restartAt: 1_000 });
  first.delete("ns/api-0");
  assert.equal(statSync(path.join(dir, CRASH_RECORDS_FILE)).mode & 0o777, 0o600);

  const second = new CrashRecords(dir, 2_000);
  assert.deepEqual(second.get("ns/web-0"), { containerId: "c2", crashes: 2, restartAt: 11_000 });
  assert.equal(second.get("ns/api-0"), undefined, "an Instance that left the node is forgotten");
});

test("entries a day past their restart are dropped; an unreadable file starts over and says so", (t) => {
  const dir = stateDir(t);
  const day = 24 * 60 * 60_000;
  new CrashRecords(dir, 0).set("ns/old-0", { containerId: "c1", crashes: 3, restartAt: 5_000 });
  assert.equal(new CrashRecords(dir, 5_000 + day).get("ns/old-0"), undefined);
  assert.ok(new CrashRecords(dir, 4_000 + day).get("ns/old-0"));

  const file = path.join(dir, CRASH_RECORDS_FILE);
  writeFileSync(file, "{not json");
  const problems: string[] = [];
  const fresh = new CrashRecords(dir, 0, (message) => problems.push(message));
  assert.equal(fresh.get("ns/old-0"), undefined);
  assert.match(problems[0] ?? "", /not a crash-loop record/);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      instances: { "ns/a-0": { containerId: 3 }, "ns/b-0": { containerId: "c", crashes: 1, restartAt: 9 } },
    }),
  );
  const filtered = new CrashRecords(dir, 0);
  assert.equal(filtered.get("ns/a-0"), undefined, "a malformed entry is skipped");
  assert.ok(filtered.get("ns/b-0"));
  assert.ok(readFileSync(file, "utf8").length > 0);
});

test("without a state directory the record lives in memory only", () => {
  const records = new CrashRecords(undefined, 0);
  records.set("ns/web-0", { containerId: "c1", crashes: 1, restartAt: 0 });
  assert.ok(records.get("ns/web-0"));
});
