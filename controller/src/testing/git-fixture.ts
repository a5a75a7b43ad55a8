/**
 * Local git repositories for tests: a real git, real commits, reached through file:// URLs.
 * They live under one directory, the one tests allow file:// repositories under. Only tests
 * import this.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type { FileRepositoryPolicy } from "../source/file-repositories.js";

const execFileAsync = promisify(execFile);

/** Where test repositories are made: the directory tests allow file:// repositories under. */
export const TEST_REPOSITORIES_DIR = join(tmpdir(), "berth-test-repositories");
/** file:// repositories as tests allow them: under TEST_REPOSITORIES_DIR. */
export const TEST_FILE_REPOSITORIES: FileRepositoryPolicy = { allowed: [TEST_REPOSITORIES_DIR], refused: [] };

/** A fresh directory under TEST_REPOSITORIES_DIR. */
export async function testRepositoryScratch(prefix: string): Promise<string> {
  await mkdir(TEST_REPOSITORIES_DIR, { recursive: true });
  return mkdtemp(join(TEST_REPOSITORIES_DIR, prefix));
}

export class GitFixture {
  private constructor(
    /** The repository's working directory. */
    readonly dir: string,
  ) {}

  /** An empty repository on branch main in a fresh temporary directory. */
  static async create(prefix = "berth-repo-"): Promise<GitFixture> {
    const parent = await testRepositoryScratch(prefix);
    const fixture = new GitFixture(join(parent, "repo"));
    await mkdir(fixture.dir);
    await fixture.git("init", "--quiet", "--initial-branch=main");
    return fixture;
  }

  get url(): string {
    return pathToFileURL(this.dir).href;
  }

  async git(...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(
      "git",
      [
        "-c",
        "user.name=Berth Test",
        "-c",
        "user.email=test@berth.invalid",
        "-c",
        "commit.gpgsign=false",
        ...args,
      ],
      { cwd: this.dir, env: { ...process.env, LC_ALL: "C" } },
    );
    return stdout.trim();
  }

  /** Writes the files (path → content; null deletes) and commits them; returns the commit. */
  async commit(files: Record<string, string | null>, message = "change"): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.dir, path);
      if (content === null) {
        await rm(full, { force: true });
      } else {
        await mkdir(dirname(full), { recursive: true });
        await writeFile(full, content);
      }
    }
    await this.git("add", "--all");
    await this.git("commit", "--quiet", "--allow-empty", "--message", message);
    return this.git("rev-parse", "HEAD");
  }

  async remove(): Promise<void> {
    await rm(dirname(this.dir), { recursive: true, force: true });
  }
}
