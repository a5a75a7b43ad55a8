/**
 * A role of the scale benchmark (scale-role.ts) in a child process: started, measured and
 * stopped over IPC, either as TypeScript under tsx or compiled, as Berth runs in production.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Measurement } from "./scale-role.js";

const ROOT = path.resolve(new URL(".", import.meta.url).pathname, "../..");

/**
 * The role script to run, and how: compiled (built here first into .berth/,
 * so dist/ stays as the developer left it) under node with production's flags, or the
 * TypeScript under tsx.
 */
export function roleCommand(compiled: boolean): {
  script: string;
  execArgv: string[];
  env: NodeJS.ProcessEnv;
} {
  if (!compiled) {
    return { script: path.join(ROOT, "test/bench/scale-role.ts"), execArgv: ["--import", "tsx"], env: {} };
  }
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, "node_modules/typescript/bin/tsc"),
      "-p",
      path.join(ROOT, "test/bench/tsconfig.roles.json"),
    ],
    { stdio: "inherit" },
  );
  return {
    script: path.join(ROOT, ".berth/bench-roles/test/bench/scale-role.js"),
    // As the image runs it (Dockerfile ENTRYPOINT) with the controller Deployment's NODE_OPTIONS.
    execArgv: ["--enable-source-maps", "--max-old-space-size=384"],
    env: { NODE_ENV: "production" },
  };
}

/** A role in a child process: started, measured, stopped over IPC. */
export class RoleProcess {
  private readonly child: ChildProcess;
  private readonly messages: Array<(message: { type: string; measurement?: Measurement }) => void> = [];

  constructor(role: string, env: NodeJS.ProcessEnv, command: ReturnType<typeof roleCommand>) {
    this.child = fork(command.script, [role], {
      // BENCH_CPU_PROF=DIR writes each role's CPU profile there when it stops.
      execArgv: [
        "--expose-gc",
        ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
        ...command.execArgv,
      ],
      env: { ...process.env, ...command.env, ...env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (message: { type: string; measurement?: Measurement }) => {
      for (const listener of this.messages.splice(0)) listener(message);
    });
  }

  private next(type: string): Promise<{ type: string; measurement?: Measurement }> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`the role process exited (${code})`));
      this.child.once("exit", onExit);
      this.messages.push((message) => {
        this.child.off("exit", onExit);
        if (message.type === type) resolve(message);
        else reject(new Error(`expected ${type}, got ${message.type}`));
      });
    });
  }

  ready(): Promise<unknown> {
    return this.next("ready");
  }

  async measure(): Promise<Measurement> {
    const answer = this.next("measurement");
    this.child.send({ type: "measure" });
    return (await answer).measurement!;
  }

  async stop(): Promise<void> {
    const answer = this.next("stopped");
    this.child.send({ type: "stop" });
    await answer.catch(() => undefined);
  }

  kill(): void {
    this.child.kill();
  }
}
