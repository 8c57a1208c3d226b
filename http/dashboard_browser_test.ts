// End-to-end test of the dashboard page in headless Chromium (Debian `chromium` + npm
// `playwright-core`). Skips, saying why, where /usr/bin/chromium is missing.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ActorRef } from "../core/actor_ref.ts";
import type { ActorId } from "../core/ids.ts";
import type { ClusterBackend, MemberInfo, NamedActorInfo, ResolveOptions } from "../core/system.ts";
import { ActorSystem } from "../core/system.ts";
import { serveHttp } from "./gateway.ts";
import { Router } from "./_test_actors.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `dashboard_browser_test: SKIPPED — ${CHROMIUM} not found (install it with: apt-get install -y chromium)`,
  );
}

/** A stand-in for the cluster layer: this node plus a scripted second node. */
class FakeCluster implements ClusterBackend {
  readonly addr = "127.0.0.1:7000";
  readonly extraMembers: MemberInfo[] = [];
  readonly extraActors: NamedActorInfo[] = [];
  readonly #local = new Map<string, string>();
  constructor(readonly system: ActorSystem) {}
  registerName(path: string, actorId: ActorId): void {
    this.#local.set(path, actorId.value);
  }
  unregisterName(path: string): void {
    this.#local.delete(path);
  }
  resolve(path: string, _o: ResolveOptions): ActorRef | undefined {
    return this.system.localCell(path)?.ref;
  }
  refer(): Promise<ActorRef | undefined> {
    return Promise.resolve(undefined);
  }
  members(): Promise<MemberInfo[]> {
    return Promise.resolve([
      { nodeId: this.system.nodeId.value, addr: this.addr, status: "alive" },
      ...this.extraMembers,
    ]);
  }
  allNamedActors(): Promise<NamedActorInfo[]> {
    const local: NamedActorInfo[] = [...this.system.localNamedCells()].map((c) => ({
      path: c.name!,
      instanceCount: 1,
      instances: [{
        nodeId: this.system.nodeId.value,
        actorId: c.actorId.value,
        metadata: c.metadata,
      }],
    }));
    return Promise.resolve([...local, ...this.extraActors]);
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test({
  name: "dashboard: shows members, actors per node and rates; new ones appear without reload",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A test-only dependency: kept inline so the library's import map stays free of it.
    // deno-lint-ignore no-import-prefix
    const { chromium } = await import("npm:playwright-core@1.64.1");
    const system = new ActorSystem();
    const cluster = new FakeCluster(system);
    system.attachCluster(cluster);
    await Router.spawn({ name: "services/llm/router", system });
    const gw = await serveHttp(system, { port: 0, token: "tok" });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    });
    const load = setInterval(() => {
      void fetch(`${gw.url}/actors/services/llm/router/incr`, {
        method: "POST",
        headers: { authorization: "Bearer tok" },
        body: "[]",
      }).then((r) => r.body?.cancel());
    }, 20);
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
      // without the token: the page says how to give it
      await page.goto(`${gw.url}/`);
      await page.waitForSelector("#banner:has-text('needs a token')", { timeout: 5_000 });

      await page.goto(`${gw.url}/#token=tok`);
      await page.waitForSelector('[data-actor="services/llm/router"]', { timeout: 5_000 });
      await page.waitForSelector(`[data-node="${system.nodeId.value}"] .pill.alive`);
      await page.evaluate(() => ((globalThis as Record<string, unknown>).__noReload = true));

      // a second node joins and hosts an actor; a new local actor is spawned
      const other = "ab".repeat(16);
      cluster.extraMembers.push({ nodeId: other, addr: "127.0.0.1:7001", status: "alive" });
      cluster.extraActors.push({
        path: "workers/remote_one",
        instanceCount: 1,
        instances: [{ nodeId: other, actorId: "cd".repeat(16), metadata: { class: "Worker" } }],
      });
      await Router.spawn({ name: "late/arrival", system });
      await page.waitForSelector('[data-actor="late/arrival"]', { timeout: 5_000 });
      await page.waitForSelector(`[data-node="${other}"] .pill.alive`, { timeout: 5_000 });
      await page.waitForSelector(`[data-group="${other}"] [data-actor="workers/remote_one"]`);
      assert.equal(
        await page.evaluate(() => (globalThis as Record<string, unknown>).__noReload),
        true,
        "the page was not reloaded",
      );
      // live rates: the router gets ~50 calls/s, the card shows a positive number
      await page.waitForFunction(
        "Number(document.getElementById('c-rate').textContent.replace(/,/g, '')) > 0",
        undefined,
        { timeout: 5_000 },
      );
      assert.equal(await page.textContent("#c-members"), "2 / 2");
      cluster.extraMembers[0].status = "suspect";
      await page.waitForSelector(`[data-node="${other}"] .pill.suspect`, { timeout: 5_000 });
      await page.waitForTimeout(3_000); // let the sparkline draw a few points
      const dir = await Deno.makeTempDir({ prefix: "pulsing_dashboard_" });
      const shot = join(dir, "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`dashboard screenshot: ${shot}`);
      assert.ok((await Deno.stat(shot)).size > 10_000);
    } finally {
      clearInterval(load);
      await browser.close();
      await gw.close();
      await system.shutdown();
    }
  },
});
