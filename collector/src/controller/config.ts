import { int, secretRef } from "@clawguard/shared/config/fields";
import { z } from "zod";

const argv = z.array(z.string().min(1)).min(1);

/** `controller`: failover for gateway groups (a primary and its standby on one state volume). */
export const controllerConfig = z
  .strictObject({
    groups: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected 1-63 chars of [A-Za-z0-9_.-]" }),
          primary: z.string().min(1),
          standby: z.string().min(1),
          /** Agent to the URL clients reach it on, e.g. { gateway: "http://gateway:18789" }. */
          targets: z.record(z.string(), z.url({ error: "expected an http(s) URL" })),
        }),
      )
      .default([]),
    /**
     * command: argv templates with {agent}, {target}, {port}, e.g. ["docker", "restart", "{agent}"];
     * webhook: POST {action, agent, target} to url (bearer token from a secret reference).
     */
    actuator: z
      .strictObject({
        kind: z.enum(["command", "webhook"]).default("command"),
        start: argv.optional(),
        stop: argv.optional(),
        restart: argv.optional(),
        url: z.url({ error: "expected an http(s) URL" }).optional(),
        token: secretRef.optional(),
        timeoutMs: int(1000, 600_000).default(60_000),
      })
      .prefault({}),
    tickMs: int(100, 60_000).default(1000),
    unhealthyForMs: int(0, 3_600_000).default(3000),
    restartBudget: int(0, 100).default(3),
    restartWindowMs: int(1000, 86_400_000).default(600_000),
    restartBackoffMs: int(0, 3_600_000).default(5000),
    minFailoverIntervalMs: int(0, 86_400_000).default(120_000),
    holdStaleShare: z.number().min(0).max(1).default(0.5),
    downTimeoutMs: int(100, 600_000).default(15_000),
    readyTimeoutMs: int(100, 3_600_000).default(120_000),
    /** The lease: a replica that stops renewing for this long loses it. */
    leaseTtlMs: int(1000, 600_000).default(5000),
  })
  .prefault({});

export type ControllerConfig = z.output<typeof controllerConfig>;
