// Browser tests of the Hangar web UI: headless Debian Chromium (/usr/bin/chromium)
// driven by playwright-core; no browser is ever downloaded.
//
//   node tests/js/ui.test.mjs URL ADMIN_TOKEN OTHER_TOKEN APP_DIR
//
// URL is the daemon as a browser reaches it (http://localhost:PORT, so that
// the spaces' subdomains *.localhost resolve), APP_DIR a small app to upload
// (tests/e2e/apps/envapp). With SCREENSHOTS=DIR it also saves PNGs of the main
// pages into DIR. Prints one "ok"/"not ok" line a step and exits non-zero on
// the first failure.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [URL_, TOKEN, OTHER_TOKEN, APP_DIR] = process.argv.slice(2);
if (!URL_ || !TOKEN || !OTHER_TOKEN || !APP_DIR) {
  console.error('usage: ui.test.mjs URL ADMIN_TOKEN OTHER_TOKEN APP_DIR');
  process.exit(2);
}
const SHOTS = process.env.SCREENSHOTS || '';
const SECRET_VALUE = 'sup3r-s3cret-' + Math.random().toString(36).slice(2);
const SPACE = 'ui-demo';
const PRIVATE = 'ui-hidden';
const RUNNING_TIMEOUT = 240_000;

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];

async function browserContext(viewport = { width: 1280, height: 900 }) {
  // A fresh profile every time: no state from an earlier run.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-ui-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium', headless: true, args: ARGS, viewport,
  });
  ctx.setDefaultTimeout(20_000);
  return { ctx, dir };
}

async function closeContext({ ctx, dir }) {
  await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

let failed = false;
async function step(name, fn) {
  if (failed) return;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed = true;
    console.log(`not ok - ${name}\n${e.stack || e}`);
  }
}

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: false });
}

async function signIn(page, token) {
  await page.goto(URL_ + '/login');
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(URL_ + '/');
}

async function createSpace(page, name, { sdk = 'gradio', visibility = 'public' } = {}) {
  await page.goto(URL_ + '/new');
  await page.getByLabel('Space name').fill(name);
  await page.locator(`input[name=sdk][value=${sdk}]`).check();
  await page.locator(`input[name=visibility][value=${visibility}]`).check();
  await page.getByRole('button', { name: 'Create space' }).click();
  await page.waitForURL(`${URL_}/spaces/admin/${name}/files`);
}

const consoleErrors = [];
const browser = await browserContext();
const page = await browser.ctx.newPage();
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));

await step('sign in with a token', async () => {
  await page.goto(URL_ + '/');
  await shot(page, 'signed-out');
  await signIn(page, TOKEN);
  await page.getByText('Signed in as').waitFor();
  const cookies = await browser.ctx.cookies();
  const session = cookies.find((c) => c.name === 'hangar_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
});

await step('a form post without the CSRF token is refused', async () => {
  const status = await page.evaluate(async () => {
    const body = new URLSearchParams({ owner: 'admin', name: 'forged', sdk: 'static' });
    const r = await fetch('/new', { method: 'POST', body, redirect: 'manual' });
    return r.status;
  });
  assert.equal(status, 403);
  // And a wrong token is no better than none.
  const status2 = await page.evaluate(async () => {
    const body = new URLSearchParams({ owner: 'admin', name: 'forged', sdk: 'static', csrf: 'f'.repeat(64) });
    return (await fetch('/new', { method: 'POST', body, redirect: 'manual' })).status;
  });
  assert.equal(status2, 403);
  const r = await page.goto(URL_ + '/spaces/admin/forged');
  assert.equal(r.status(), 404);
});

await step('create a space', async () => {
  await page.goto(URL_ + '/new');
  await shot(page, 'new-space');
  await createSpace(page, SPACE);
  await page.getByRole('heading', { name: `admin / ${SPACE}` }).waitFor();
  assert.equal(await page.locator('#stage').textContent(), 'NO_APP_FILE');
});

await step('upload files', async () => {
  const files = fs.readdirSync(APP_DIR).map((f) => path.join(APP_DIR, f));
  await page.getByLabel('Files', { exact: true }).setInputFiles(files);
  await page.getByLabel('Commit message').fill('Add the app from the browser');
  await page.getByRole('button', { name: 'Commit to main' }).click();
  await page.getByText('Committed to main').waitFor();
  for (const f of fs.readdirSync(APP_DIR))
    await page.getByRole('link', { name: f, exact: true }).waitFor();
  await page.getByRole('link', { name: 'app.py', exact: true }).click();
  await page.locator('pre.blob').getByText('serve_forever').waitFor();
  await page.getByRole('link', { name: 'History' }).click();
  await page.getByRole('cell', { name: 'Add the app from the browser' }).waitFor();
  await page.getByRole('cell', { name: 'admin', exact: true }).waitFor();
});

await step('watch the stage reach RUNNING on the page', async () => {
  await page.goto(`${URL_}/spaces/admin/${SPACE}`);
  // No reload by the test: the badge follows the runtime, and the page swaps
  // in the app when it runs.
  await page.locator('#stage', { hasText: /^RUNNING$/ }).waitFor({ timeout: RUNNING_TIMEOUT });
  await page.locator('iframe.app-frame').waitFor({ timeout: 30_000 });
});

await step('open the app iframe', async () => {
  const frame = page.frameLocator('iframe.app-frame');
  await frame.locator('body').getByText('greeting').waitFor({ timeout: 30_000 });
  const src = await page.locator('iframe.app-frame').getAttribute('src');
  assert.match(src, new RegExp(`^http://admin-${SPACE}\\.localhost:\\d+/$`));
  await shot(page, 'space');
});

const logs = await browser.ctx.newPage();
await step('see a run-log line appear live', async () => {
  await logs.goto(`${URL_}/spaces/admin/${SPACE}/logs`);
  await logs.locator('#log-run').getByText(/ENV \{/).first().waitFor({ timeout: 30_000 });
  await logs.locator('#log-build div').first().waitFor();
  // A new line while the page stays open: change a variable (the app
  // restarts and prints it) and watch it arrive over the stream.
  await page.goto(`${URL_}/spaces/admin/${SPACE}/settings`);
  await page.locator('#variable-key').fill('GREETING');
  await page.locator('#variable-value').fill('hello-from-the-browser');
  await page.getByRole('button', { name: 'Save variable' }).click();
  await page.getByText('Variable saved').waitFor();
  await logs.locator('#log-run').getByText('hello-from-the-browser').first()
    .waitFor({ timeout: 90_000 });
  await shot(logs, 'logs');
});

await step('set a secret and see it never rendered', async () => {
  await page.goto(`${URL_}/spaces/admin/${SPACE}/settings`);
  await page.locator('#secret-key').fill('API_KEY');
  await page.locator('#secret-value').fill(SECRET_VALUE);
  await page.locator('#secret-desc').fill('the key');
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByText('Secret saved').waitFor();
  await page.locator('#secrets').getByText('API_KEY').waitFor();
  await shot(page, 'settings');
  // The app got it: its run log says so, masked.
  await logs.locator('#log-run').getByText('secret is ***').first().waitFor({ timeout: 90_000 });
  for (const p of ['/settings', '', '/logs', '/files']) {
    await page.goto(`${URL_}/spaces/admin/${SPACE}${p}`);
    await page.waitForTimeout(p === '/logs' ? 1500 : 100);
    const html = await page.content();
    assert.ok(!html.includes(SECRET_VALUE), `secret rendered on ${p || 'the space page'}`);
  }
  const logText = await logs.locator('#log-run').textContent();
  assert.ok(!logText.includes(SECRET_VALUE), 'secret in the run log');
  // Replacing keeps it hidden; deleting removes the name.
  await page.goto(`${URL_}/spaces/admin/${SPACE}/settings`);
  await page.getByRole('button', { name: 'Delete API_KEY' }).click();
  await page.getByText('Secret deleted').waitFor();
  assert.equal(await page.locator('#secrets').getByText('API_KEY').count(), 0);
});

await step('the home page lists the space and filters', async () => {
  await page.goto(URL_ + '/');
  await page.locator('.card', { hasText: SPACE }).waitFor();
  await shot(page, 'home');
  await page.getByLabel('SDK').selectOption('static');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/sdk=static/);
  assert.equal(await page.locator('.card', { hasText: SPACE }).count(), 0);
  await page.getByLabel('Search').fill(SPACE);
  await page.getByLabel('SDK').selectOption('');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.locator('.card', { hasText: SPACE }).waitFor();
});

await step('a private space is invisible to another user', async () => {
  await createSpace(page, PRIVATE, { sdk: 'static', visibility: 'private' });
  await page.goto(URL_ + '/');
  await page.locator('.card', { hasText: PRIVATE }).waitFor();
  const other = await browserContext();
  try {
    const p2 = await other.ctx.newPage();
    await p2.goto(URL_ + '/');
    assert.equal(await p2.locator('.card', { hasText: PRIVATE }).count(), 0, 'anonymous sees it');
    await signIn(p2, OTHER_TOKEN);
    await p2.locator('.card', { hasText: SPACE }).waitFor();
    assert.equal(await p2.locator('.card', { hasText: PRIVATE }).count(), 0, 'bob sees it');
    for (const p of ['', '/files', '/logs', '/settings']) {
      const r = await p2.goto(`${URL_}/spaces/admin/${PRIVATE}${p}`);
      assert.equal(r.status(), 404, `bob gets ${r.status()} on ${p}`);
    }
    const api = await p2.evaluate(async (n) => (await fetch(`/api/spaces/admin/${n}/runtime`)).status, PRIVATE);
    assert.equal(api, 404);
    // Bob may see the public space but not its settings.
    const r = await p2.goto(`${URL_}/spaces/admin/${SPACE}/settings`);
    assert.equal(r.status(), 403);
    assert.equal(await p2.getByRole('link', { name: 'Settings' }).count(), 0);
  } finally {
    await closeContext(other);
  }
});

await step('usable at phone width', async () => {
  const phone = await browserContext({ width: 390, height: 844 });
  try {
    const p = await phone.ctx.newPage();
    await p.goto(URL_ + '/');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await shot(p, 'home-phone');
  } finally {
    await closeContext(phone);
  }
});

await step('keyboard: skip link and visible focus', async () => {
  await page.goto(URL_ + '/');
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement.textContent);
  assert.equal(focused, 'Skip to content');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
});

await step('delete the space', async () => {
  await page.goto(`${URL_}/spaces/admin/${SPACE}/settings`);
  const button = page.getByRole('button', { name: 'Delete space' });
  assert.equal(await button.isDisabled(), true);
  await page.getByLabel(/to confirm/).fill(`admin/${SPACE}`);
  await button.click();
  await page.waitForURL(URL_ + '/');
  assert.equal(await page.locator('.card', { hasText: SPACE }).count(), 0);
  const r = await page.goto(`${URL_}/spaces/admin/${SPACE}`);
  assert.equal(r.status(), 404);
});

await step('sign out', async () => {
  await page.goto(URL_ + '/');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
  const r = await page.goto(`${URL_}/spaces/admin/${PRIVATE}`);
  assert.equal(r.status(), 404);
});

await step('no script or CSP errors in the console', async () => {
  // Failed loads are the 403s and 404s this suite asks for on purpose.
  const relevant = consoleErrors.filter((e) => !/Failed to load resource/.test(e));
  assert.deepEqual(relevant, []);
});

await closeContext(browser);
console.log(failed ? 'UI tests: FAILED' : 'UI tests: all passed');
process.exit(failed ? 1 : 0);
