import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SourceError } from "./errors.js";
import { GitFixture, TEST_FILE_REPOSITORIES, TEST_REPOSITORIES_DIR } from "../testing/git-fixture.js";
import { checkoutCommit, resolveRepositoryCommit } from "./git.js";
import { checkRepositoryUrl, redactUrl, redactUrlsIn } from "./repository-url.js";

const allowed = { fileRepositories: TEST_FILE_REPOSITORIES };

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

test("credentials in URLs are refused, and never reach messages in any form", () => {
  const token = "ghp_TOKEN1234567890";
  for (const url of [
    `https://${token}@example.com/app.git`,
    `https://user:${token}@example.com/app.git`,
    `https://:${token}@example.com/app.git`,
    `https://user:pa@ss${token}@example.com/app.git`,
    `https://${token}:x-oauth-basic@example.com/app.git`,
    `ssh://git:${token}@example.com/app.git`,
    `http://${token}@example.com/app.git`,
    `https://${token}\\@example.com/app.git`,
  ]) {
    assert.throws(
      () => checkRepositoryUrl(url),
      (err: unknown) =>
        hasReason("RepositoryURLRefused")(err) && !String((err as Error).message).includes(token.slice(4)),
      url,
    );
    assert.ok(!redactUrl(url).includes(token.slice(4)), redactUrl(url));
    assert.ok(!redactUrlsIn(`fatal: unable to access '${url}': 403`).includes(token.slice(4)), url);
  }
  assert.equal(redactUrl(`https://${token}@example.com/app.git`), "https://***@example.com/app.git");
  assert.equal(redactUrl(`https://u:${token}@example.com/app.git`), "https://***@example.com/app.git");
  // An ssh user is a login name, not a secret: kept, and allowed.
  assert.equal(checkRepositoryUrl("ssh://git@example.com/a.git").display, "ssh://git@example.com/a.git");
  assert.equal(checkRepositoryUrl("git@example.com:a.git").display, "git@example.com:a.git");
  assert.equal(
    redactUrlsIn(`could not read from 'https://${token}@h/r' nor 'ssh://u:${token}@h/r'`),
    "could not read from 'https://***@h/r' nor 'ssh://***@h/r'",
  );
});

test("file:// URLs must be plain absolute paths", () => {
  assert.equal(checkRepositoryUrl("file:///srv/git/app").path, "/srv/git/app");
  assert.equal(checkRepositoryUrl("file://localhost/srv/git/app").path, "/srv/git/app");
  for (const url of [
    "file:///srv/git/../state/git/repos/x.git",
    "file:///srv/git/./app",
    "file:///srv/git/%2e%2e/state",
    "file:///srv//git",
    "file:///srv/git/app?x",
    "file:///srv/git/app/..",
    "file:///",
  ]) {
    assert.throws(() => checkRepositoryUrl(url), hasReason("RepositoryURLRefused"), url);
  }
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

  assert.equal(await resolveRepositoryCommit({ url: repo.url }, allowed), second);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "main" }, allowed), second);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "side" }, allowed), first);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "refs/heads/side" }, allowed), first);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "light" }, allowed), first);
  // An annotated tag resolves to the commit it tags, not to the tag object.
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "v1" }, allowed), first);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: first.toUpperCase() }, allowed), first);
  assert.equal(
    await resolveRepositoryCommit({ url: repo.url, ref: first.slice(0, 10) }, { ...allowed, cacheDir }),
    first,
  );
});

test("a moved branch resolves to its new commit", async (t) => {
  const repo = await GitFixture.create();
  t.after(() => repo.remove());
  const before = await repo.commit({ "a.txt": "one" });
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "main" }, allowed), before);
  const after = await repo.commit({ "a.txt": "two" });
  assert.notEqual(after, before);
  assert.equal(await resolveRepositoryCommit({ url: repo.url, ref: "main" }, allowed), after);
});

test("a missing ref gives RefNotFound, an unreadable repository RepositoryUnreachable", async (t) => {
  const repo = await GitFixture.create();
  t.after(() => repo.remove());
  await repo.commit({ "a.txt": "one" });
  await assert.rejects(
    resolveRepositoryCommit({ url: repo.url, ref: "no-such-branch" }, allowed),
    hasReason("RefNotFound"),
  );
  await assert.rejects(
    resolveRepositoryCommit({ url: `file://${TEST_REPOSITORIES_DIR}/nonexistent/repo` }, allowed),
    (err: unknown) =>
      hasReason("RepositoryUnreachable")(err) &&
      /does not appear to be a git repository|not found/i.test(String(err)),
  );
});

test("an empty repository has no default branch", async (t) => {
  const repo = await GitFixture.create();
  t.after(() => repo.remove());
  await assert.rejects(resolveRepositoryCommit({ url: repo.url }, allowed), hasReason("RefNotFound"));
});

test("a checkout holds the commit's files, and a commit the repository lacks is RefNotFound", async (t) => {
  const repo = await GitFixture.create();
  const cacheDir = await mkdtemp(join(tmpdir(), "berth-git-cache-"));
  t.after(() => Promise.all([repo.remove(), rm(cacheDir, { recursive: true, force: true })]));
  const first = await repo.commit({ "a.txt": "one", "sub/b.txt": "bee" });
  await repo.commit({ "a.txt": "two" });

  const checkout = await checkoutCommit({ url: repo.url }, first, { ...allowed, cacheDir });
  assert.equal(await readFile(join(checkout.dir, "a.txt"), "utf8"), "one");
  assert.equal(await readFile(join(checkout.dir, "sub/b.txt"), "utf8"), "bee");
  await checkout.remove();
  await assert.rejects(readFile(join(checkout.dir, "a.txt")), { code: "ENOENT" });

  await assert.rejects(
    checkoutCommit({ url: repo.url }, "0123456789abcdef0123456789abcdef01234567", {
      ...allowed,
      cacheDir,
    }),
    hasReason("RefNotFound"),
  );
});

test("file:// repositories: only under an allowed directory, never in a refused one, links resolved", async (t) => {
  const repo = await GitFixture.create();
  const outside = await mkdtemp(join(tmpdir(), "berth-not-allowed-"));
  t.after(() => Promise.all([repo.remove(), rm(outside, { recursive: true, force: true })]));
  const commit = await repo.commit({ "a.txt": "one" });
  assert.equal(await resolveRepositoryCommit({ url: repo.url }, allowed), commit);
  await assert.rejects(
    resolveRepositoryCommit({ url: repo.url }),
    (err: unknown) => hasReason("RepositoryURLRefused")(err) && /--allow-file-repositories/.test(String(err)),
    "nothing allowed by default",
  );
  await assert.rejects(
    resolveRepositoryCommit({ url: repo.url }, { fileRepositories: { allowed: [outside], refused: [] } }),
    (err: unknown) =>
      hasReason("RepositoryURLRefused")(err) && /not under a directory allowed/.test(String(err)),
  );
  // A refused directory wins over an allowed one that holds it.
  await assert.rejects(
    resolveRepositoryCommit(
      { url: repo.url },
      { fileRepositories: { allowed: [TEST_REPOSITORIES_DIR], refused: [dirname(repo.dir)] } },
    ),
    (err: unknown) => hasReason("RepositoryURLRefused")(err) && /state directory/.test(String(err)),
  );
  // A link in an allowed directory to a repository elsewhere is followed, and judged by its target.
  const link = join(outside, "link");
  await symlink(repo.dir, link);
  await assert.rejects(
    resolveRepositoryCommit(
      { url: `file://${link}` },
      { fileRepositories: { allowed: [outside], refused: [dirname(repo.dir)] } },
    ),
    hasReason("RepositoryURLRefused"),
  );
  assert.equal(
    await resolveRepositoryCommit(
      { url: `file://${link}` },
      { fileRepositories: { allowed: [outside, TEST_REPOSITORIES_DIR], refused: [] } },
    ),
    commit,
  );
  // The mirror cache is refused always: a repository there is another Definition's.
  await assert.rejects(
    resolveRepositoryCommit(
      { url: repo.url },
      { cacheDir: dirname(repo.dir), fileRepositories: { allowed: [TEST_REPOSITORIES_DIR], refused: [] } },
    ),
    hasReason("RepositoryURLRefused"),
  );
});
