// Swagger UI works for a person: open /docs in Debian's Chromium, authorize with an API key, execute "who am I"
// and see 200. Starts its own server (the debug binary) on a fresh SQLite database; saves a screenshot in out/.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.TESSERA_BIN ?? join(here, "../../target/debug/tessera");
const key = `tsk_browser_${Date.now()}`;
const db = `sqlite://${mkdtempSync(join(tmpdir(), "tessera-browser-"))}/t.db`;
const server = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--database-url", db], {
  env: { ...process.env, TESSERA_ADMIN_API_KEY: key, TESSERA_LOG: "warn" },
  stdio: ["ignore", "pipe", "inherit"],
});
const base = await new Promise((resolve, reject) => {
  let buf = "";
  server.stdout.on("data", (d) => {
    buf += d;
    const m = buf.match(/listening on (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  server.on("exit", () => reject(new Error("server exited")));
});

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const page = await browser.newPage();
  await page.goto(`${base}/docs`);
  await page.locator(".btn.authorize").first().click();
  const scheme = page.locator(".auth-container").filter({ hasText: "CoreBearer" });
  await scheme.locator("input").fill(key);
  await scheme.locator(".auth-btn-wrapper .authorize").click();
  await page.locator(".auth-btn-wrapper .btn-done").first().click();
  const op = page.locator("#operations-Core-core_me_get");
  await op.locator(".opblock-summary").click();
  await op.locator(".try-out__btn").click();
  await op.locator(".execute").click();
  const status = op.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.innerText()).trim();
  const body = await op.locator(".live-responses-table tbody .microlight").first().innerText();
  mkdirSync(join(here, "out"), { recursive: true });
  await op.screenshot({ path: join(here, "out", "swagger-me.png") });
  if (code !== "200" || !body.includes("platform_admin")) {
    console.error(`expected 200 with the caller's roles, got ${code}: ${body.slice(0, 200)}`);
    failed = true;
  } else {
    console.log(`Swagger UI: authorized, executed GET /core/v1/me, saw ${code}; screenshot in tests/browser/out/swagger-me.png`);
  }
} catch (e) {
  console.error(e);
  failed = true;
} finally {
  await browser.close();
  server.kill();
}
process.exit(failed ? 1 : 0);
