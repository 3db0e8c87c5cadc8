import { inject } from "@clawguard/deploy/inject/inject";
import { parseDocument } from "yaml";
import { type Figure, median, progress } from "./report.ts";

/**
 * `clawguard inject` of a 5 MB compose file (one agent among thousands of services with 20
 * environment variables each, the shape of a generated monorepo file) beside a plain parse of the
 * same text by the yaml library, in the same process: CPU time (the load of a shared machine moves
 * wall time, much less CPU time). Targets: inject within 4 plain parses, and 5 s of CPU.
 */
function fiveMegabytes(): string {
  const services: string[] = [];
  for (let i = 0, size = 0; size < 5_000_000; i++) {
    const env = Array.from({ length: 20 }, (_, k) => `      VAR_${k}: "value ${i}-${k}"`).join("\n");
    const service = `  app${i}:\n    image: example.com/app:${i}\n    environment:\n${env}\n`;
    services.push(service);
    size += service.length;
  }
  return `services:\n  gateway:\n    image: ghcr.io/openclaw/openclaw:latest\n    volumes:\n      - ws:/home/node/.openclaw/workspace\n${services.join("")}volumes:\n  ws:\n`;
}

/** CPU seconds (user + system) of `fn`. */
function cpuSeconds(fn: () => unknown): number {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

export async function benchInject({ runs }: { runs: number }): Promise<Figure[]> {
  const text = fiveMegabytes();
  const mb = (text.length / 1e6).toFixed(1);
  const parses: number[] = [];
  const injects: number[] = [];
  for (let i = 0; i < runs; i++) {
    progress(`inject: ${mb} MB file, run ${i + 1}/${runs}`);
    parses.push(cpuSeconds(() => parseDocument(text, { uniqueKeys: false })));
    injects.push(cpuSeconds(() => inject(text)));
  }
  const parse = median(parses);
  const took = median(injects);
  return [
    {
      name: `inject of a ${mb} MB compose file (CPU)`,
      value: `${took.toFixed(2)} s`,
      anchor: `plain parse ${parse.toFixed(2)} s`,
      ratio: `${(took / parse).toFixed(2)}x`,
      target: "<= 4x, <= 5 s",
      pass: took / parse <= 4 && took <= 5,
    },
  ];
}
