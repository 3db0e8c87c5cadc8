import { statfsSync, statSync } from "node:fs";

export interface DiskLowThresholds {
  minFreeBytes: number;
  minFreePercent: number;
}

const MiB = 1024 * 1024;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/**
 * Why the disk makes the sidecar degraded: one reason per filesystem (the workspace's, the state
 * dir's) with less free space than the smaller threshold. statfs needs no space and no file: it
 * answers on a full disk. Two paths on one filesystem are reported once.
 */
export function diskLowReasons(
  places: readonly { what: string; path: string }[],
  thresholds: DiskLowThresholds,
): string[] {
  const reasons: string[] = [];
  const seen = new Set<number>();
  for (const { what, path } of places) {
    let stats: ReturnType<typeof statfsSync>;
    let device: number;
    try {
      stats = statfsSync(path);
      device = statSync(path).dev;
    } catch (err) {
      reasons.push(`disk_low: ${what} ${path}: cannot tell its free space (${(err as Error).message})`);
      continue;
    }
    const total = stats.blocks * stats.bsize;
    const free = stats.bavail * stats.bsize;
    const limit = Math.min(thresholds.minFreeBytes, (total * thresholds.minFreePercent) / 100);
    if (free >= limit) continue;
    if (seen.has(device)) continue;
    seen.add(device);
    reasons.push(
      `disk_low: ${what} ${path} has ${mib(free)} free of ${mib(total)} (${((free / Math.max(total, 1)) * 100).toFixed(1)} %), under ${mib(limit)}: exec refuses commands it cannot audit; free space (spill files: exec.spill.maxBytes, retentionMs)`,
    );
  }
  return reasons;
}
