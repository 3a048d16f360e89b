// A real Gradio app (tests/e2e/apps/gradio_hello) used in headless Chromium
// at its own address, through Hangar's proxy: the page, its scripts and
// styles, the config and the queue (Gradio sends a prediction's events as
// server-sent events) all come through the subdomain.
//
//   node tests/js/gradio.test.mjs APP_URL
//
// APP_URL is the space's address as a browser reaches it
// (http://admin-hello.localhost:PORT/: Chromium resolves *.localhost to
// loopback itself). Prints one "ok"/"not ok" line a step; exits non-zero on
// the first failure.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [APP_URL] = process.argv.slice(2);
if (!APP_URL) {
  console.error('usage: gradio.test.mjs APP_URL');
  process.exit(2);
}
const origin = new URL(APP_URL).origin;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-gradio-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});
ctx.setDefaultTimeout(30_000);

// Every response of the app's own origin, to check what went through the proxy.
const responses = [];
ctx.on('response', (r) => {
  if (r.url().startsWith(origin)) {
    responses.push({ url: r.url(), status: r.status(), type: r.headers()['content-type'] || '' });
  }
});
const failedRequests = [];
ctx.on('requestfailed', (r) => {
  if (r.url().startsWith(origin)) failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`);
});

let code = 0;
async function step(name, fn) {
  if (code) return;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    code = 1;
    console.log(`not ok - ${name}\n${e.stack || e}`);
  }
}

const page = await ctx.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));

await step('the Gradio page loads at the space\'s address', async () => {
  const nav = await page.goto(APP_URL);
  assert.equal(nav.status(), 200);
  // The input is rendered by Gradio's front end from /config: its scripts
  // and styles came through the proxy and ran.
  await page.getByLabel('name').waitFor();
  const scripts = responses.filter((r) => /javascript/.test(r.type));
  const styles = responses.filter((r) => /text\/css/.test(r.type));
  assert.ok(scripts.length > 0 && styles.length > 0, JSON.stringify(responses));
  const broken = responses.filter((r) => r.status >= 500);
  assert.deepEqual(broken, []);
});

for (const who of ['Hangar', 'Chromium']) {
  await step(`Submit shows the prediction for ${who} (queue events over SSE)`, async () => {
    await page.getByLabel('name').fill(who);
    await page.getByRole('button', { name: 'Submit' }).click();
    // The output box is a textarea whose value Gradio sets from the events.
    await page.waitForFunction(
      (want) => [...document.querySelectorAll('textarea')].some((t) => t.value === want),
      `Hello ${who}!`, { timeout: 30_000 });
  });
}

await step('the prediction came as server-sent events through the proxy', async () => {
  const sse = responses.filter((r) => r.type.startsWith('text/event-stream'));
  assert.ok(sse.length >= 2, `no event stream among ${JSON.stringify(responses, null, 1)}`);
  assert.ok(sse.every((r) => r.status === 200), JSON.stringify(sse));
  assert.deepEqual(failedRequests.filter((f) => !/ERR_ABORTED/.test(f)), []);
  assert.deepEqual(pageErrors, []);
});

await ctx.close();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(code);
