/**
 * CPU time read from /proc, for the benchmarks: the local control plane's processes and the
 * machine as a whole. On a machine of a few cores, what the control plane burns during a
 * burst is CPU the Docker engine does not get.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * CPU seconds the local control plane's own processes used so far, read from /proc through
 * their pid files (BERTH_STATE): whether the API server or etcd is the limit. Empty when
 * the control plane is not local.
 */
export function controlPlaneCpu(): Map<string, number> {
  const result = new Map<string, number>();
  const dir = process.env.BERTH_STATE ? path.join(process.env.BERTH_STATE, "controlplane") : undefined;
  for (const name of ["kube-apiserver", "etcd"]) {
    try {
      const pid = readFileSync(path.join(dir ?? "", `${name}.pid`), "utf8").trim();
      // utime and stime, fields 14 and 15, in clock ticks (100 a second on Linux).
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      result.set(name, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // not local, or not running: nothing to say
    }
  }
  return result;
}

/** CPU seconds the whole machine spent busy (not idle or waiting on I/O) so far, over all cores. */
export function machineBusyCpu(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return (total - idle) / 100;
}

/**
 * Starts a window; its end says, over the wall time, how busy the machine was (in cores),
 * and how much of that this process and the local control plane took.
 */
export function cpuWindow(): () => string {
  const wall = performance.now();
  const machine = machineBusyCpu();
  const own = process.cpuUsage();
  const plane = controlPlaneCpu();
  return () => {
    const seconds = (performance.now() - wall) / 1000;
    const cores = (used: number): string => `${(used / seconds).toFixed(2)}`;
    const ownUsed = process.cpuUsage(own);
    const parts = [
      `machine busy ${cores(machineBusyCpu() - machine)} of ${os.cpus().length} cores`,
      `this process ${cores((ownUsed.user + ownUsed.system) / 1e6)}`,
    ];
    for (const [name, cpu] of controlPlaneCpu()) parts.push(`${name} ${cores(cpu - (plane.get(name) ?? 0))}`);
    return `CPU over ${seconds.toFixed(1)} s: ${parts.join(", ")}`;
  };
}
