import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { eventually, type MattermostPost, mattermostStandIn } from "../support/monitoring.ts";
import { Processes, type RunningCollector, startCollector } from "../support/processes.ts";

/**
 * The collector's alert state survives the collector: a real collector process (embedded store),
 * killed with SIGKILL while "gateway down" fires and started again on the same data directory,
 * does not post the alert again (its repeat interval has not passed) and posts its resolution once.
 * Before the state was kept in the store, the new process knew of no alert: it posted FIRING again
 * for the gateway still down, or never posted the resolve of the one that came back meanwhile.
 */

const procs = new Processes();
const dir = tempDir("clawguard-alert-restart-");
afterAll(async () => {
  await procs.cleanup();
  dir.cleanup();
});

const beat = (c: RunningCollector, state: "healthy" | "unhealthy") =>
  fetch(`${c.url}/v1/heartbeats`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.tokens.gw}`, "content-type": "application/json" },
    body: JSON.stringify({
      agent: "gw",
      role: "gateway",
      host: "h1",
      state,
      reasons: state === "healthy" ? [] : ["gateway: connection refused"],
      probes: [{ name: "gateway", state: state === "healthy" ? "passing" : "failing" }],
      versions: {},
      configFingerprint: "c".repeat(64),
      intervalMs: 60_000,
      time: new Date().toISOString(),
    }),
  }).then((res) => {
    expect(res.status).toBe(200);
  });

const texts = (posts: MattermostPost[]) => posts.map((p) => p.text);
const FIRING = "**:rotating_light: FIRING P0 gateway_down on gw**";
const RESOLVED = "**:white_check_mark: RESOLVED P0 gateway_down on gw**";
/** A few evaluations (alerts.evaluateMs 500 below). */
const settle = () => new Promise((r) => setTimeout(r, 3000));

describe("alert state across a collector restart", () => {
  it("kill -9 between firing and resolve: no second FIRING, exactly one RESOLVED", {
    timeout: 180_000,
  }, async () => {
    const mattermost = await mattermostStandIn();
    const config = join(dir.path, "collector.yaml");
    // agentDownForMs 0: an agent_down of role "unknown" (the gateway known only from the store
    // after the restart, before its first heartbeat) would be posted at once.
    writeFileSync(
      config,
      "alerts:\n  evaluateMs: 500\n  agentDownForMs: 0\n  mattermost: [{ url: { env: MATTERMOST_URL } }]\n",
    );
    const env = {
      CLAWGUARD_COLLECTOR_CONFIG: config,
      MATTERMOST_URL: mattermost.url,
      CLAWGUARD_LOG_LEVEL: "info",
    };
    try {
      const first = await startCollector(procs, dir.path, ["gw"], env);
      await beat(first, "unhealthy");
      await eventually("the FIRING post", async () =>
        texts(mattermost.posts).includes(FIRING) ? true : undefined,
      );
      await settle(); // the state written at the evaluation that posted it; a few more go by
      first.managed.kill("SIGKILL");
      expect(await first.managed.exited).toBe("SIGKILL");

      const second = await startCollector(procs, dir.path, ["gw"], env);
      const alertsOf = async (c: RunningCollector) =>
        (
          (await (
            await fetch(`${c.url}/v1/alerts`, { headers: { authorization: `Bearer ${c.read}` } })
          ).json()) as {
            alerts: { alert: string; agent: string; role: string }[];
          }
        ).alerts;
      // Not heard from yet (known only from the store, role unknown): its alert keeps its role.
      await settle();
      expect(texts(mattermost.posts)).toEqual([FIRING]);
      expect(await alertsOf(second)).toEqual([
        expect.objectContaining({ alert: "gateway_down", agent: "gw", role: "gateway" }),
      ]);
      // The gateway still down, heard from again: the alert goes on firing, not posted again.
      await beat(second, "unhealthy");
      await settle();
      if (texts(mattermost.posts).length !== 1)
        console.log(first.managed.output(), "\n-----\n", second.managed.output());
      expect(texts(mattermost.posts)).toEqual([FIRING]);
      const listed = (await (
        await fetch(`${second.url}/v1/alerts`, { headers: { authorization: `Bearer ${second.read}` } })
      ).json()) as { alerts: { alert: string; agent: string }[] };
      expect(listed.alerts).toEqual([expect.objectContaining({ alert: "gateway_down", agent: "gw" })]);
      second.managed.kill("SIGKILL");
      await second.managed.exited;

      // Back while no collector ran: the third one resolves the alert the first one fired.
      const third = await startCollector(procs, dir.path, ["gw"], env);
      await beat(third, "healthy");
      await eventually("the RESOLVED post", async () =>
        texts(mattermost.posts).includes(RESOLVED) ? true : undefined,
      );
      await settle();
      expect(texts(mattermost.posts)).toEqual([FIRING, RESOLVED]);
      await third.managed.kill("SIGTERM");
    } finally {
      await procs.cleanup();
      await mattermost.close();
    }
  });
});
