/**
 * The web console in a real browser (Debian's headless Chromium, driven by playwright-core)
 * against a real region: the API serving the console, PostgreSQL, Redis and two node agents
 * running the echo firmware. One region and one browser for the whole file, the cases in order.
 *
 * SKIFF_WEB_SCREENSHOTS=<dir> also writes the main pages as PNGs there (docs/web holds them).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { builtForTests } from "@skiff/devkit";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addEchoCatalog, built, type Cluster, root, startCluster } from "./api-cluster.js";

const CHROMIUM = process.env.SKIFF_CHROMIUM ?? "/usr/bin/chromium";
const ready =
  built && builtForTests(root, ["apps/web/dist/index.html", "apps/node-agent/dist/migration", CHROMIUM]);
const shots = process.env.SKIFF_WEB_SCREENSHOTS;
const LONG = { timeout: 30_000 };

let c: Cluster;
let browser: Browser;
let page: Page;
let tenantToken: string;
/** Errors the page threw: a console that fails must show it, never go blank. */
const pageErrors: string[] = [];

async function shot(name: string): Promise<void> {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** A page's link in the navigation bar. */
async function open(name: string): Promise<void> {
  await page.getByRole("navigation").getByRole("link", { name }).click();
}

async function signIn(token: string): Promise<void> {
  await page.goto(`${c.url}/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut(): Promise<void> {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API token").waitFor();
  // The page runs this in the browser (the e2e project has no DOM types).
  expect(await page.evaluate("sessionStorage.length")).toBe(0);
}

/** The state badge of a VPS row, once it shows `state`. */
async function vpsReaches(name: string, state: string): Promise<void> {
  await page.locator(`tr[data-vps="${name}"] .state-${state}`).waitFor(LONG);
}

describe.skipIf(!ready)("web console in headless Chromium", () => {
  beforeAll(async () => {
    const launched = chromium.launch({
      executablePath: CHROMIUM,
      // Nothing but the cluster on 127.0.0.1: none of the browser's own background traffic.
      args: ["--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
    // Kept as soon as it runs, so afterAll closes it even when the region fails to start.
    launched.then((b) => (browser = b)).catch(() => undefined);
    c = await startCluster({ agents: 2, apiEnv: { SKIFF_RATE_LIMIT_PER_MINUTE: "100000" } });
    await launched;
    await addEchoCatalog(c);
    const project = await c.call("POST", "/v1/projects", { name: "acme" });
    const token = await c.call("POST", "/v1/tokens", {
      name: "acme",
      scope: "tenant",
      projectId: project.body.id,
    });
    tenantToken = token.body.token;
    // The tenant's own VPS boots while the operator's cases run (the create form is the operator's case).
    const own = await c.call("POST", "/v1/vps", { name: "t1", plan: "fw", image: "echo" }, tenantToken);
    if (own.status !== 201 && own.status !== 202)
      throw new Error(`t1: ${own.status} ${JSON.stringify(own.body)}`);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (err) => pageErrors.push(err.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await c?.stop();
  }, 60_000);

  it("serves the page and its bundles from the API, with a strict content security policy", async () => {
    const res = await fetch(`${c.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
    const bundle = /src="(\/assets\/[^"]+\.js)"/.exec(await res.text())?.[1];
    const js = await fetch(`${c.url}${bundle}`);
    expect([js.status, js.headers.get("cache-control")]).toEqual([
      200,
      "public, max-age=31536000, immutable",
    ]);
    // A path out of the build is refused, not served.
    expect((await fetch(`${c.url}/assets/..%2f..%2fpackage.json`)).status).toBe(403);
  });

  it("refuses a bad token with the API's code and message", async () => {
    await signIn("skiff_op_not-a-token");
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toContain("UNAUTHENTICATED");
    await shot("sign-in");
  });

  it("signs an operator in, creates a VPS and sees it reach running", async () => {
    await signIn(c.operatorToken);
    await page.getByRole("link", { name: "Nodes" }).waitFor();
    await page.getByLabel("Name").fill("web1");
    await page.getByLabel("Plan").selectOption("fw");
    await page.getByLabel("Image").selectOption("echo");
    await page.getByRole("button", { name: "Create" }).click();
    await vpsReaches("web1", "running");
    expect(await page.locator('tr[data-vps="web1"] td').nth(1).textContent()).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await shot("vps");
  });

  it("runs a command in the console (token as subprotocol, not in the URL) and reads its output", async () => {
    const urls: string[] = [];
    page.on("websocket", (ws) => urls.push(ws.url()));
    await page.getByRole("link", { name: "console of web1" }).click();
    await page.getByRole("status").filter({ hasText: "connected" }).waitFor();
    await page.locator(".xterm-rows").filter({ hasText: "fw ready" }).waitFor();
    await page.locator(".console-screen").click();
    // The echo firmware echoes what it is sent and answers '?' with the count of bytes it got.
    await page.keyboard.type("hi?");
    await page.locator(".xterm-rows").filter({ hasText: "hi00000003" }).waitFor();
    // The terminal keeps Tab; Ctrl+] gives the keyboard back to the page's controls.
    await page.keyboard.press("Control+BracketRight");
    expect(await page.evaluate("document.activeElement.textContent")).toBe("Send BREAK");
    expect(urls.length).toBe(1);
    expect(urls[0]).not.toContain(c.operatorToken);
    await shot("console");
  });

  it("migrates the VPS and shows its rounds, completion and downtime", async () => {
    await open("VPSes");
    await page.getByRole("link", { name: "migrate web1" }).click();
    await page.getByRole("button", { name: "Migrate" }).click();
    await page.waitForURL(/#\/migrations\/[0-9a-f-]{36}$/);
    await page.locator(".state-completed").waitFor(LONG);
    const rounds = page.getByRole("table", { name: "Pre-copy rounds" }).locator("tbody tr");
    expect(await rounds.count()).toBeGreaterThan(0);
    expect(await page.locator('[data-field="downtime"]').textContent()).toMatch(/\d+(\.\d)? m?s$/);
    await shot("migration");
  });

  it("drains the node the VPS is on, following the drain to its end, and undrains it", async () => {
    const vps = (await c.call("GET", "/v1/vps")).body.items.find((v: { name: string }) => v.name === "web1");
    const node = (await c.call("GET", `/v1/nodes/${vps.nodeId}`)).body.name as string;
    await open("Nodes");
    await page.getByRole("button", { name: `Drain ${node}` }).click();
    await page
      .getByRole("status", { name: `drain of ${node}` })
      .filter({ hasText: "Drained" })
      .waitFor(LONG);
    await shot("nodes");
    await page.getByRole("button", { name: `Undrain ${node}` }).click();
    await page.getByRole("button", { name: `Drain ${node}` }).waitFor();
    const after = (await c.call("GET", `/v1/vps/${vps.id}`)).body;
    expect(after.nodeId).not.toBe(vps.nodeId);
    expect(after.state).toBe("running");
  });

  it("shows the balancer's dry run and the event log", async () => {
    await open("Balancer");
    await page.getByRole("button", { name: "Dry run" }).click();
    const answer = page.getByRole("region", { name: "Dry run" }).or(page.getByRole("alert"));
    await answer.waitFor();
    expect(await answer.textContent()).toMatch(/^Dry run/);
    await shot("balancer");
    await open("Events");
    await page.getByRole("log").filter({ hasText: "vps.created" }).waitFor();
    await shot("events");
    await signOut();
  });

  it("shows a tenant its project's VPSes only, lets them delete one, and no operator page", async () => {
    await signIn(tenantToken);
    await vpsReaches("t1", "running");
    expect(await page.locator('tr[data-vps="web1"]').count()).toBe(0);
    expect(await page.getByRole("link", { name: "Nodes" }).count()).toBe(0);
    await page.goto(`${c.url}/#/nodes`);
    expect(await page.getByRole("alert").textContent()).toContain("FORBIDDEN");
    await page.goto(`${c.url}/#/vps`);
    await page.getByRole("button", { name: "delete t1" }).click();
    await page.getByRole("button", { name: "confirm delete t1" }).click();
    await page.locator('tr[data-vps="t1"]').waitFor({ state: "detached", ...LONG });
    await signOut();
    expect(pageErrors).toEqual([]);
  });
});
