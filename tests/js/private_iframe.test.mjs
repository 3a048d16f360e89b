// The app iframe of a private space, for its signed-in owner: the session
// cookie is set for the configured domain, so the space's subdomain sees it
// and the proxy lets the owner in. Chromium keeps cookies for "localhost"
// host-only, so this runs the daemon with --domain hangar.test and maps that
// name to loopback in the browser.
//
//   node tests/js/private_iframe.test.mjs URL TOKEN OWNER/NAME
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [URL_, TOKEN, SPACE] = process.argv.slice(2);
const host = new URL(URL_).hostname;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-ui-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--host-resolver-rules=MAP ${host} 127.0.0.1, MAP *.${host} 127.0.0.1`],
});
let code = 0;
try {
  const page = await ctx.newPage();
  // Signed out, the app's own address refuses the private space.
  const sub = SPACE.replace('/', '-').toLowerCase();
  const appUrl = URL_.replace('//' + host, `//${sub}.${host}`) + '/';
  // (401 with a Basic challenge: headless Chromium fails the navigation.)
  const probe = await ctx.newPage();
  await assert.rejects(probe.goto(appUrl), /ERR_INVALID_AUTH_CREDENTIALS/);
  await probe.close();
  await page.goto(URL_ + '/login');
  await page.getByLabel('Access token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(URL_ + '/');
  const session = (await ctx.cookies()).find((c) => c.name === 'hangar_session');
  assert.equal(session.domain, '.' + host);
  await page.goto(`${URL_}/spaces/${SPACE}`);
  const frame = page.frameLocator('iframe.app-frame');
  await frame.locator('body').getByText(/\S/).first().waitFor({ timeout: 20_000 });
  const text = await frame.locator('body').textContent();
  assert.ok(!/Unauthorized|Sign in/.test(text), `the iframe says: ${text}`);
  assert.match(text, /Static space/);
  // Signed in, the same navigation carries the session to the subdomain.
  assert.equal((await page.goto(appUrl)).status(), 200);
  console.log('ok - the owner sees the private app in the iframe');
} catch (e) {
  console.log(`not ok - private iframe\n${e.stack || e}`);
  code = 1;
} finally {
  await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
