import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SourceError } from "./errors.js";
import { GitFixture } from "./git-fixture.js";
import { checkoutCommit, resolveRepositoryCommit } from "./git.js";
import { checkRepositoryUrl, redactUrl } from "./repository-url.js";

function hasReason(reason: string) {
  return (err: unknown) => {
    assert.ok(err instanceof SourceError, `expected a SourceError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  };
}

test("https, ssh, user@host:path and file URLs are accepted", () => {
  assert.equal(checkRepositoryUrl("https://example.com/team/app.git").scheme, "https");
  assert.equal(checkRepositoryUrl("ssh://git@example.com:2222/team/app.git").scheme, "ssh");
  assert.equal(checkRepositoryUrl("git@example.com:team/app.git").scheme, "ssh");
  assert.equal(checkRepositoryUrl("file:///srv/git/app").scheme, "file");
});

test("other schemes and option-like URLs are refused", () => {
  for (const url of [
    "ext::sh -c touch% /tmp/pwned",
    "ext::sh",
    "http://example.com/app.git",
    "git://example.com/app.git",
    "fd::3",
    "/srv/git/app",
    "--upload-pack=touch /tmp/pwned",
    "-u",
    "git@-oProxyCommand=x:path",
    "ssh://-oProxyCommand=x/path",
    "https://example.com/a b",
    "https://example.com/a\nb",
    "https://example.com/a\u0001b",
    "file://remote-host/srv/app",
    "",
  ]) {
    assert.throws(() => checkRepositoryUrl(url), hasReason("RepositoryURLRefused"), url);
  }
});

test("passwords in URLs never reach messages", () => {
  assert.equal(redactUrl("https://user:hunter2@example.com/app.git"), "https://user:***@example.com/app.git");
  assert.equal(redactUrl("https://token@example.com/app.git"), "https://token@example.com/app.git");
  assert.equal(
    checkRepositoryUrl("https://user:hunter2@example.com/a.git").display,
    "https://user:***@example.com/a.git",
  );
  assert.throws(
    () => checkRepositoryUrl("http://user:hunter2@example.com/a.git"),
    (err: unknown) => err instanceof SourceError && !err.message.includes("hunter2"),
  );
});

test("a refused URL never runs git", async () => {
  // A git binary that does not exist would fail differently if it were run.
  await assert.rejects(
    resolveRepositoryCommit({ url: "ext::sh -c touch% /tmp/x" }, { gitBinary: "/nonexistent/git" }),
    hasReason("RepositoryURLRefused"),
  );
});

test("refs resolve to commits: default branch, branch, tags, full and short commits", async (t) => {
  const repo = await GitFixture.create();
  const cacheDir = await mkdtemp(join(tmpdir(), "berth-git-cache-"));
  t.after(() => Promise.all([repo.remove(), rm(cacheDir, { recursive: true, force: true })]));
  const first = await repo.commit({ "a.txt": "one" });
  await repo.git("tag", "light");
  await repo.git("tag", "--annotate", "--message", "annotated", "v1");
  const second = await repo.commit({ "a.txt": "two" });
  await repo.git("branch", "side", first);

  assert.equal(await resolveRepositoryCommit({ url: repo.url }), second);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "main" }), second);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "side" }), first);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "refs/heads/side" }), first);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "light" }), first);
  // An annotated tag resolves to the commit it tags, not to the tag object.
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "v1" }), first);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: first.toUpperCase() }), first);
  assert.equal(
    await resolveRepositoryCommit({ url: repo.url, ref: first.slice(0, 10) }, { cacheDir }),
    first,
  );
});

test("a moved branch resolves to its new commit", async (t) => {
  const repo = await GitFixture.create();
  t.after(() => repo.remove());
  const before = await repo.commit({ "a.txt": "one" });
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "main" }), before);
  const after = await repo.commit({ "a.txt": "two" });
  assert.notEqual(after, before);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "main" }), after);
});

test("a missing ref gives RefNotFound, an unreadable repository RepositoryUnreachable", async (t) => {
  const repo = await GitFixture.create();
  t.after(() => repo.remove());
  await repo.commit({ "a.txt": "one" });
  await assert.rejects(
    resolveRepositoryCommit({ url: repo.url, ref: "no-such-branch" }),
    hasReason("RefNotFound"),
  );
  await assert.rejects(
    resolveRepositoryCommit({ url: "file:///nonexistent/berth/repo" }),
    (err: unknown) =>
      hasReason("RepositoryUnreachable")(err) &&
      /does not appear to be a git repository|not found/i.test(String(err)),
  );
});

test("an empty repository has no default branch", async (t) => {
  const repo = await GitFixture.create();
  t.after(() => repo.remove());
  await assert.rejects(resolveRepositoryCommit({ url: repo.url }), hasReason("RefNotFound"));
});

test("a checkout holds the commit's files, and a commit the repository lacks is RefNotFound", async (t) => {
  const repo = await GitFixture.create();
  const cacheDir = await mkdtemp(join(tmpdir(), "berth-git-cache-"));
  t.after(() => Promise.all([repo.remove(), rm(cacheDir, { recursive: true, force: true })]));
  const first = await repo.commit({ "a.txt": "one", "sub/b.txt": "bee" });
  await repo.commit({ "a.txt": "two" });

  const checkout = await checkoutCommit({ url: repo.url }, first, { cacheDir });
  assert.equal(await readFile(join(checkout.dir, "a.txt"), "utf8"), "one");
  assert.equal(await readFile(join(checkout.dir, "sub/b.txt"), "utf8"), "bee");
  await checkout.remove();
  await assert.rejects(readFile(join(checkout.dir, "a.txt")), { code: "ENOENT" });

  await assert.rejects(
    checkoutCommit({ url: repo.url }, "0123456789abcdef0123456789abcdef01234567", { cacheDir }),
    hasReason("RefNotFound"),
  );
});
