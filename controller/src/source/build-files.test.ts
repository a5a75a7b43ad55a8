import { test } from "node:test";
import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RepositorySource } from "../api/types.js";
import { SourceError } from "./errors.js";
import { COPIED_CONTAINER_FILE, locateBuildFiles } from "./build-files.js";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

function checkout(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), "berth-build-files-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return realpathSync(dir);
}

const repository = (fields: Partial<RepositorySource> = {}): RepositorySource => ({
  url: "https://example.test/app.git",
  ...fields,
});

const isMissing = (pattern: RegExp) => (err: unknown) =>
  err instanceof SourceError && err.reason === "ContainerFileMissing" && pattern.test(err.message);

test("the default Dockerfile in the root is used as it is", async (t) => {
  const root = checkout(t);
  writeFileSync(path.join(root, "Dockerfile"), "FROM scratch\n");
  assert.deepEqual(await locateBuildFiles(root, repository(), COMMIT), {
    contextDir: root,
    containerFile: "Dockerfile",
  });
});

test("without a Dockerfile, the default falls back to a Containerfile; a named file does not", async (t) => {
  const root = checkout(t);
  writeFileSync(path.join(root, "Containerfile"), "FROM scratch\n");
  assert.equal((await locateBuildFiles(root, repository(), COMMIT)).containerFile, "Containerfile");
  await assert.rejects(
    locateBuildFiles(root, repository({ containerFile: "Build.file" }), COMMIT),
    isMissing(/containerFile "Build.file" is not in the repository/),
  );
});

test("a containerFile outside the context is brought in under a fresh name, the repository's files untouched", async (t) => {
  const root = checkout(t);
  mkdirSync(path.join(root, "app"));
  mkdirSync(path.join(root, "build"));
  writeFileSync(path.join(root, "build", "App.file"), "FROM scratch\nCOPY . /\n");
  const located = await locateBuildFiles(
    root,
    repository({ contextDir: "app", containerFile: "build/App.file" }),
    COMMIT,
  );
  assert.equal(located.contextDir, path.join(root, "app"));
  assert.ok(located.containerFile.startsWith(COPIED_CONTAINER_FILE));
  assert.equal(
    readFileSync(path.join(root, "app", located.containerFile), "utf8"),
    "FROM scratch\nCOPY . /\n",
  );
  assert.deepEqual(readdirSync(path.join(root, "app")), [located.containerFile]);
});

test("paths that leave the repository, directly or through a link, are refused", async (t) => {
  const root = checkout(t);
  const outside = checkout(t);
  writeFileSync(path.join(outside, "Dockerfile"), "FROM scratch\n");
  symlinkSync(path.join(outside, "Dockerfile"), path.join(root, "Dockerfile"));
  symlinkSync(outside, path.join(root, "elsewhere"));
  await assert.rejects(locateBuildFiles(root, repository(), COMMIT), isMissing(/is not in the repository/));
  await assert.rejects(
    locateBuildFiles(root, repository({ contextDir: "elsewhere" }), COMMIT),
    isMissing(/contextDir "elsewhere" is not a directory/),
  );
  await assert.rejects(
    locateBuildFiles(root, repository({ containerFile: "../Dockerfile" }), COMMIT),
    isMissing(/must be a relative path inside the repository/),
  );
  await assert.rejects(
    locateBuildFiles(root, repository({ contextDir: "/etc" }), COMMIT),
    isMissing(/must be a relative path inside the repository/),
  );
});

test("a context that is a file, not a directory, is refused naming the commit", async (t) => {
  const root = checkout(t);
  writeFileSync(path.join(root, "Dockerfile"), "FROM scratch\n");
  await assert.rejects(
    locateBuildFiles(root, repository({ contextDir: "Dockerfile" }), COMMIT),
    isMissing(
      /contextDir "Dockerfile" is not a directory at commit 0123456789ab of https:\/\/example.test\/app.git/,
    ),
  );
});
