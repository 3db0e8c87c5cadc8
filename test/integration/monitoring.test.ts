import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { daemon, eventually, type MattermostPost, mattermostStandIn, tool } from "../support/monitoring.ts";
import { freePort } from "../support/processes.ts";

/**
 * deploy/monitoring/ with the real tools: the rules checked and unit-tested by promtool, the
 * Alertmanager config checked by amtool, and a real Alertmanager posting a firing and then
 * resolved P0 to a Mattermost stand-in (an incoming webhook).
 */

const MONITORING = fileURLToPath(new URL("../../deploy/monitoring/", import.meta.url));
const promtool = tool("/usr/bin/promtool");
const amtool = tool("/usr/bin/amtool");
const alertmanager = tool("/usr/bin/prometheus-alertmanager");
const dir = tempDir("clawguard-monitoring-");
afterAll(() => dir.cleanup());

const run = (bin: string, args: string[]) => {
  try {
    return execFileSync(bin, args, { cwd: MONITORING, encoding: "utf8", stdio: "pipe" });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`${bin} ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
};

describe.skipIf(!promtool)("alert rules", () => {
  it("pass promtool check rules and every unit test in rules.test.yml", () => {
    expect(run(promtool as string, ["check", "rules", "rules.yml"])).toMatch(/SUCCESS: 12 rules found/);
    expect(run(promtool as string, ["test", "rules", "rules.test.yml"])).toMatch(/SUCCESS/);
    expect(run(promtool as string, ["check", "config", "--syntax-only", "prometheus.yml"])).toMatch(
      /SUCCESS/,
    );
  });
});

describe.skipIf(!amtool || !alertmanager)("Alertmanager to Mattermost", () => {
  it("posts a firing P0 and then its resolution to a Mattermost incoming webhook; groups many agents in one post", {
    timeout: 90_000,
  }, async () => {
    expect(run(amtool as string, ["check-config", "alertmanager.yml"])).toMatch(/SUCCESS/);
    const mattermost = await mattermostStandIn();
    writeFileSync(join(dir.path, "webhook-url"), mattermost.url);
    // The deployed config, the secret's path aside.
    const config = readFileSync(join(MONITORING, "alertmanager.yml"), "utf8").replace(
      "/run/secrets/mattermost_webhook_url",
      join(dir.path, "webhook-url"),
    );
    writeFileSync(join(dir.path, "alertmanager.yml"), config);
    const port = await freePort();
    const am = daemon(alertmanager as string, [
      `--config.file=${join(dir.path, "alertmanager.yml")}`,
      `--storage.path=${join(dir.path, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
    ]);
    const alert = (endsAt?: string) => [
      {
        labels: { alertname: "ClawguardGatewayDown", severity: "P0", agent: "main", role: "gateway" },
        annotations: { summary: "gateway main is down" },
        startsAt: new Date(Date.now() - 5000).toISOString(),
        ...(endsAt ? { endsAt } : {}),
      },
    ];
    const post = (body: unknown) =>
      fetch(`http://127.0.0.1:${port}/api/v2/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.status);
    try {
      await eventually("Alertmanager up", async () =>
        (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined,
      );
      expect(await post(alert())).toBe(200);
      const firing = await eventually("the firing post", async () => mattermost.posts[0]);
      expect(firing.attachments?.[0]).toMatchObject({
        color: "danger",
        title: "[FIRING:1] P0 ClawguardGatewayDown",
        text: "gateway main is down\n",
      });
      expect(firing.attachments?.[0]?.fields).toEqual(
        expect.arrayContaining([expect.objectContaining({ title: "agent", value: "main" })]),
      );
      expect(await post(alert(new Date().toISOString()))).toBe(200);
      const resolved = await eventually("the resolved post", async () => mattermost.posts[1], 20_000);
      expect(resolved.attachments?.[0]).toMatchObject({
        color: "good",
        title: "[RESOLVED] P0 ClawguardGatewayDown",
      });
      // Fifty agents' error rates at once: one post (grouped by alertname and severity), listing 20.
      const many = Array.from({ length: 50 }, (_, i) => ({
        labels: { alertname: "ClawguardLlmErrorRate", severity: "P1", agent: `bot-${i}`, role: "bot" },
        annotations: { summary: `bot-${i}: 9 % of LLM calls failed` },
        startsAt: new Date(Date.now() - 5000).toISOString(),
      }));
      expect(await post(many)).toBe(200);
      const isRate = (p: MattermostPost) => /ClawguardLlmErrorRate/.test(p.attachments?.[0]?.title ?? "");
      const grouped = await eventually(
        "the error-rate post",
        async () => mattermost.posts.find(isRate),
        30_000,
      );
      expect(grouped.attachments?.[0]?.title).toBe("[FIRING:50] P1 ClawguardLlmErrorRate");
      const lines = (grouped.attachments?.[0]?.text ?? "").trimEnd().split("\n");
      expect(lines).toHaveLength(21);
      expect(lines[20]).toBe("... 50 in all");
      expect(grouped.attachments?.[0]?.fields).toEqual(
        expect.arrayContaining([expect.objectContaining({ title: "agent", value: "50 agents" })]),
      );
      await new Promise((r) => setTimeout(r, 3000));
      expect(mattermost.posts.filter(isRate)).toHaveLength(1);

      // What labels could still carry (an old collector, another exporter) goes out inert: no
      // mention, link, image, or reordering character reaches Mattermost's markdown.
      const hostile =
        "@channel [see](https://e.example) ![i](https://e.example/i.png) \u202edown\u2028<!here>";
      expect(
        await post([
          {
            labels: { alertname: "ClawguardAgentDown", severity: "P1", agent: hostile, role: hostile },
            annotations: { summary: `gateway ${hostile} is down (HTTP 503: http://evil.example.com/x)` },
            startsAt: new Date(Date.now() - 5000).toISOString(),
          },
        ]),
      ).toBe(200);
      const inert = await eventually(
        "the hostile post",
        async () => mattermost.posts.find((p) => /ClawguardAgentDown/.test(p.attachments?.[0]?.title ?? "")),
        30_000,
      );
      const shown = [
        inert.attachments?.[0]?.text,
        ...(inert.attachments?.[0]?.fields ?? []).map((f) => f.value),
      ];
      // Brackets only as a defanged URL's "[.]" (no link: nothing follows them in parentheses).
      for (const text of shown) expect(text?.replaceAll("[.]", "")).not.toMatch(/[@[\]!<>\u202e\u2028]/);
      // URLs defanged: Mattermost does not autolink them.
      expect(inert.attachments?.[0]?.text).toMatch(
        /^gateway \?channel \?see\?\(hxxps:\/\/e\[\.\]example\) .* is down \(HTTP 503: hxxp:\/\/evil\[\.\]example\[\.\]com\/x\)\n$/,
      );
      expect(inert.attachments?.[0]?.text).not.toMatch(/https?:\/\//);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nalertmanager said:\n${am.output().slice(-3000)}`);
    } finally {
      await am.stop();
      await mattermost.close();
    }
  });
});
