import { readFileSync } from "node:fs";

/**
 * Whether a process still runs. Signal 0 answers for a zombie too (a killed process nobody has
 * reaped, as under a pid 1 that never reaps), so /proc decides; EPERM means it runs as another user.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat[stat.lastIndexOf(")") + 2];
    return state !== "Z" && state !== "X";
  } catch {
    return true; // no /proc: signal 0 said it runs
  }
}
