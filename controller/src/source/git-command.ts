/**
 * Running one git command: through execFile with an argument array (never a shell), with
 * an environment that never prompts and allows only the https, ssh and file transports,
 * a time limit, a cap on its output, and cancellation by signal. What git said when it
 * failed is read back as one line a person can act on.
 */
import { execFile } from "node:child_process";
import { redactUrlsIn } from "./repository-url.js";

/** Most output a git command may print before it is stopped. */
const OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;

/** The environment git runs with: no prompts, only the allowed transports, stable messages. */
export function gitEnvironment(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: "https:ssh:file",
    // A constant, never built from user input: ssh must fail instead of asking for a password.
    GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
    LC_ALL: "C",
  };
}

export interface GitResult {
  stdout: string;
  stderr: string;
}

export class GitCommandError extends Error {
  constructor(
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly timedOut: boolean,
    message: string,
  ) {
    super(message);
    this.name = "GitCommandError";
  }
}

export function runGit(
  args: string[],
  options: {
    timeoutMs: number;
    gitBinary: string;
    env?: NodeJS.ProcessEnv;
    signal?: AbortSignal | undefined;
  },
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    execFile(
      options.gitBinary,
      args,
      {
        env: { ...gitEnvironment(), ...options.env },
        timeout: options.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: OUTPUT_LIMIT_BYTES,
        encoding: "utf8",
        ...(signal ? { signal } : {}),
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        if (signal?.aborted) {
          reject(abortReason(signal));
          return;
        }
        const timedOut = err.killed === true && err.signal === "SIGKILL";
        const exitCode = typeof err.code === "number" ? err.code : undefined;
        if (!timedOut && exitCode === undefined) {
          // The program itself could not run (ENOENT and the like): not the repository's fault.
          reject(new Error(`running ${options.gitBinary} failed: ${err.message}`, { cause: err }));
          return;
        }
        reject(new GitCommandError(exitCode, stderr, timedOut, err.message));
      },
    );
  });
}

/** Why a cancelled call ended: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("cancelled");
}

/** git's own explanation: its last fatal/error line, or its last line. Passwords redacted. */
export function gitReason(err: GitCommandError, timeoutMs: number): string {
  if (err.timedOut) return `git gave no answer within ${Math.round(timeoutMs / 1000)} s`;
  const lines = err.stderr
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const fatal = lines.filter((line) => /^(fatal|error):/.test(line));
  const chosen = (fatal.length ? fatal : lines).slice(-2).join(" ");
  return chosen ? redactUrlsIn(chosen) : `git exited with code ${err.exitCode ?? "unknown"}`;
}
