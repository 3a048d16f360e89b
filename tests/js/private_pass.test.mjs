// A private app in the UI on the default domain, localhost: the session
// cookie cannot reach the app's address (browsers keep localhost's cookies
// host-only), so the iframe's address carries an app pass that the proxy
// turns into a cookie of the app's own host (src/ui/session.h). Checks that
// the owner sees the app in the iframe and in a tab of its own, that the pass
// never stays in the app's address, and that signing out ends it.
//
//   node tests/js/private_pass.test.mjs URL TOKEN OWNER/NAME
//
// URL is http://localhost:PORT; the space is a private static site.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [URL_, TOKEN, SPACE] = process.argv.slice(2);
const { hostname, port } = new URL(URL_);
const sub = SPACE.replace('/', '-').toLowerCase();
const appUrl = `http://${sub}.${hostname}:${port}/`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-pass-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});
ctx.setDefaultTimeout(20_000);

let code = 0;
async function step(name, fn) {
  if (code) return;
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    code = 1;
    console.log(`not ok - ${name}\n${e.stack || e}`);
  }
}

const page = await ctx.newPage();
let link;

await step('signed out, the app refuses', async () => {
  // (401 with a Basic challenge: headless Chromium fails the navigation.)
  const probe = await ctx.newPage();
  await assert.rejects(probe.goto(appUrl), /ERR_INVALID_AUTH_CREDENTIALS/);
  await probe.close();
});

await step('signed in on localhost, the owner sees the private app in the iframe', async () => {
  await page.goto(URL_ + '/login');
  await page.getByLabel('Access token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(URL_ + '/');
  const session = (await ctx.cookies()).find((c) => c.name === 'hangar_session');
  assert.equal(session.domain, hostname); // host-only: it cannot reach the app
  await page.goto(`${URL_}/spaces/${SPACE}`);
  const frame = page.frameLocator('iframe.app-frame');
  await frame.getByRole('heading', { name: 'Static space' }).waitFor();
  // The pass was exchanged for a cookie and is gone from the app's address.
  const appFrame = page.frames().find((f) => f.url().startsWith(appUrl));
  assert.ok(appFrame, page.frames().map((f) => f.url()).join(' '));
  assert.equal(appFrame.url(), appUrl);
  link = await page.getByRole('link', { name: 'Open the app in a new tab' }).getAttribute('href');
  assert.match(link, /\?__sign=/);
});

await step('the link opens the app in a tab of its own', async () => {
  const [tab] = await Promise.all([
    ctx.waitForEvent('page'),
    page.getByRole('link', { name: 'Open the app in a new tab' }).click(),
  ]);
  await tab.getByRole('heading', { name: 'Static space' }).waitFor();
  assert.equal(tab.url(), appUrl);
  await tab.reload();
  await tab.getByRole('heading', { name: 'Static space' }).waitFor();
  await tab.close();
});

await step('signing out ends the pass and its cookie', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/$|\/login/);
  // (A fresh page for each: a page closed after two failed navigations
  // can hang headless Chromium's close.)
  for (const url of [appUrl, link]) {
    const tab = await ctx.newPage();
    await assert.rejects(tab.goto(url), /ERR_INVALID_AUTH_CREDENTIALS/);
    await tab.close();
  }
});

await ctx.close();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(code);
