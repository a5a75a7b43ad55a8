/**
 * A container whose command cannot run. Berth's containers run under an init (docker-init,
 * which is tini), so the engine starts them fine: the init then fails to exec the command,
 * says so on stderr ("[FATAL tini (7)] exec /app failed: No such file or directory") and
 * exits 127 (not found) or 126 (not executable), as shells do. Retrying runs into the same
 * wall, so these are reported as CommandNotFound or CommandNotExecutable until the Instance
 * changes, with the init's own words, instead of as a crash loop.
 */
import type { RunTemplate } from "../api/types.js";
import { ContainerConfigError } from "./container-request.js";

export const EXIT_COMMAND_NOT_EXECUTABLE = 126;
export const EXIT_COMMAND_NOT_FOUND = 127;

/**
 * How long a container must have run before its exit with 126 or 127 is taken as the
 * command's own (a script whose last command was missing, say): an init fails within
 * milliseconds. Also how long the agent waits before it says "Started".
 */
export const START_CHECK_MS = 2000;

/** Lines of container output read to find the init's message. */
export const LOG_TAIL_LINES = 20;

/** The init's report of a failed exec: tini's "exec /app failed: No such file or directory". */
const INIT_EXEC_FAILED = /exec (.+?) failed: ([^\n]+)/g;

export type CommandFailureReason = "CommandNotFound" | "CommandNotExecutable";

export interface CommandFailure {
  reason: CommandFailureReason;
  message: string;
}

/** Only these exit codes may mean the command never ran; for others no log is worth reading. */
export function mayBeCommandFailure(exitCode: number): boolean {
  return exitCode === EXIT_COMMAND_NOT_FOUND || exitCode === EXIT_COMMAND_NOT_EXECUTABLE;
}

export interface ExitFacts {
  exitCode: number;
  /** How long the container ran, as the engine recorded it. */
  ranMs: number;
  /** The end of its output (stdout and stderr). */
  logText: string;
}

/** The command failure an exit shows, or undefined when the command ran and exited by itself. */
export function commandFailureOf(exit: ExitFacts, template: RunTemplate): CommandFailure | undefined {
  if (!mayBeCommandFailure(exit.exitCode)) return undefined;
  const initReport = [...exit.logText.matchAll(INIT_EXEC_FAILED)].pop();
  if (!initReport && exit.ranMs >= START_CHECK_MS) return undefined;
  const reason: CommandFailureReason =
    exit.exitCode === EXIT_COMMAND_NOT_FOUND ? "CommandNotFound" : "CommandNotExecutable";
  const command = initReport?.[1] ?? template.command?.[0];
  const what = command ? `command ${command}` : "the image's entrypoint";
  const problem = reason === "CommandNotFound" ? "was not found in the image" : "is not executable";
  const words = initReport?.[0].trim() ?? lastLine(exit.logText);
  return {
    reason,
    message: `${what} ${problem} (the container exited with code ${exit.exitCode} at once${words ? `: ${words}` : ""}); fix command/args or the image`,
  };
}

/** A command that cannot run, on the container that showed it (kept for `docker logs`). */
export class CommandFailedError extends ContainerConfigError {
  constructor(
    failure: CommandFailure,
    readonly containerId: string,
  ) {
    super(failure.reason, failure.message);
    this.name = "CommandFailedError";
  }
}

function lastLine(text: string): string | undefined {
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const last = lines.at(-1);
  return last && last.length > 300 ? `${last.slice(0, 299)}…` : last;
}
