// Browser test of the status page (issue #8, docs/status-page.md): starts
// the real consentd-sim and consentd on free loopback ports, drives the
// page in the system's Chromium (playwright-core; no browser is ever
// downloaded) and checks that it shows what the simulator holds, follows a
// change live, and replays a dead letter from its button.
//
//   node status_page_test.mjs --consentd PATH --sim PATH
//        [--chromium /usr/bin/chromium] [--screenshots DIR]
//
// Exit 0 on success; on failure prints why, saves a screenshot (and the
// daemon's log path) and exits 1. --screenshots DIR also saves laptop and
// phone views of the working page.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const CONSENTD = args.consentd;
const SIM = args.sim;
const CHROMIUM = args.chromium || '/usr/bin/chromium';
if (!CONSENTD || !SIM) {
  console.error('usage: node status_page_test.mjs --consentd PATH --sim PATH');
  process.exit(2);
}

const ADMIN_TOKEN = 'browser-admin-token-0123456789abcdef';
const LIST_ID = '5e1c0a7b2d';
const MAILCHIMP_KEY = '00000000000000000000000000000000-us1';
const WEBHOOK_SECRET = 'browser-s3cr3t';
const PRODUCT_UPDATES = 102; // HubSpot subscription type behind product_news
const NEWSLETTER = 101;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentd-browser-'));
const children = [];
let browser = null;
let page = null;

function log(...m) { console.log('[status-page-test]', ...m); }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Polls `fn` until it returns a truthy value (an event we wait for, with a
// generous deadline: never a fixed sleep standing in for it).
async function eventually(what, fn, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error('timed out waiting for ' + what + (last ? ': ' + last.message : ''));
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function http(base, method, p, body, headers = {}) {
  const res = await fetch(base + p, {
    method, headers: Object.assign({ 'Content-Type': 'application/json' }, headers),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return json;
}

function startSim() {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(path.join(dir, 'sim.log'), 'w');
    const child = spawn(SIM, ['--crm-listen', '127.0.0.1:0', '--journey-listen', '127.0.0.1:0',
      '--seed', '7', '--webhook-retry-ms', '200', '--no-rate-limits'],
    { stdio: ['ignore', 'pipe', out] });
    children.push(child);
    const ports = {};
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (const m of buf.matchAll(/consentd-sim: (hubspot|mailchimp) listening on [\d.]+:(\d+)/g)) {
        ports[m[1]] = Number(m[2]);
      }
      if (ports.hubspot && ports.mailchimp) resolve(ports);
    });
    child.once('exit', (code) => reject(new Error('consentd-sim exited ' + code)));
  });
}

function writeConfig(port, crm, journey, interests) {
  fs.mkdirSync(path.join(dir, 'secrets'));
  const secret = (name, v) => fs.writeFileSync(path.join(dir, 'secrets', name), v, { mode: 0o600 });
  secret('hubspot_token', 'sim-hubspot-token');
  secret('hubspot_client_secret', 'sim-hubspot-client-secret');
  secret('mailchimp_api_key', MAILCHIMP_KEY);
  secret('mailchimp_webhook_secret', WEBHOOK_SECRET);
  secret('admin_token', ADMIN_TOKEN);
  const cfg = `http:
  listen: "127.0.0.1:${port}"
store:
  path: consentd.db
proof_log:
  checkpoint_interval: 1s
admin:
  token_file: secrets/admin_token
connectors:
  hubspot:
    kind: hubspot
    base_url: ${crm}
    token_file: secrets/hubspot_token
    client_secret_file: secrets/hubspot_client_secret
    poll_interval: 1s
    poll_overlap: 2s
  mailchimp:
    kind: mailchimp
    base_url: ${journey}
    api_key_file: secrets/mailchimp_api_key
    list_id: ${LIST_ID}
    webhook_secret_file: secrets/mailchimp_webhook_secret
    poll_interval: 1s
    poll_overlap: 2s
sync:
  retry_base: 50ms
  retry_cap: 1s
  max_attempts: 2
mapping:
  systems:
    hubspot: {kind: hubspot, role: crm}
    mailchimp: {kind: mailchimp, role: journey, confirms_double_opt_in: true}
  identity:
    keys: [email]
  channels:
    email: {hubspot: EMAIL, mailchimp: email}
  topics:
    - name: newsletter
      notice_version: "2026-01"
      double_opt_in: true
      channels: [email]
      systems:
        hubspot: {subscriptions: {email: ${NEWSLETTER}}}
        mailchimp: {interest: "${interests.Newsletter}"}
    - name: product_news
      notice_version: "2026-01"
      double_opt_in: false
      channels: [email]
      systems:
        hubspot: {subscriptions: {email: ${PRODUCT_UPDATES}}}
        mailchimp: {interest: "${interests['Product news']}"}
  blocks:
    - name: werbesperre
      scope: all
      direction: both
      systems:
        hubspot: {property: consentd_werbesperre, value: "true"}
        mailchimp: {status: unsubscribed}
  erasure:
    hubspot: {mode: delete}
    mailchimp: {mode: delete}
`;
  const file = path.join(dir, 'consentd.yaml');
  fs.writeFileSync(file, cfg);
  return file;
}

async function pageText(selector) {
  const loc = page.locator(selector);
  return (await loc.count()) ? (await loc.first().textContent()) : null;
}

async function main() {
  const sim = await startSim();
  const crm = `http://127.0.0.1:${sim.hubspot}`;
  const journey = `http://127.0.0.1:${sim.mailchimp}`;
  log('simulator on', crm, journey);
  const state = await http(journey, 'GET', '/_sim/mailchimp/state');
  const interests = {};
  for (const c of state.interest_categories) for (const i of c.interests) interests[i.name] = i.id;

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = writeConfig(port, crm, journey, interests);
  await http(crm, 'POST', '/_sim/hubspot/webhook', { url: base + '/webhooks/hubspot' });
  await http(journey, 'PUT', '/_sim/mailchimp/webhook', {
    url: base + '/webhooks/mailchimp?secret=' + WEBHOOK_SECRET,
    sources: { user: true, admin: true, api: true }, first_retry_delay_ms: 200,
  });

  // Seed: three people sign up for product news in the CRM.
  for (const n of [1, 2, 3]) {
    await http(crm, 'POST', '/_sim/hubspot/person/signup',
      { email: `reader${n}@example.com`, subscriptionId: PRODUCT_UPDATES });
  }

  const logFile = path.join(dir, 'consentd.log');
  const out = fs.openSync(logFile, 'w');
  const daemon = spawn(CONSENTD, ['--config', config], { cwd: dir, stdio: ['ignore', out, out] });
  children.push(daemon);
  daemon.once('exit', (code) => log('consentd exited', code));
  log('consentd on', base, 'log', logFile);
  await eventually('consentd ready', async () => (await fetch(base + '/readyz')).ok);

  // A fresh profile in the temp dir; launchPersistentContext passes it as
  // --user-data-dir.
  browser = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const context = browser;
  page = await context.newPage();
  const consoleErrors = [];
  // Script errors and CSP violations fail the test; answers the page
  // expects (401 for the wrong token, 404 for optional endpoints) do not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      consoleErrors.push(m.text());
    }
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  // The page itself needs no token; it asks for one.
  const res = await page.goto(base + '/');
  if (res.status() !== 200) throw new Error('GET / answered ' + res.status());
  const csp = res.headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'")) throw new Error('no strict CSP on the page: ' + csp);
  await page.getByLabel('Admin token', { exact: true }).waitFor();

  // A wrong token is refused and asked again.
  await page.getByLabel('Admin token', { exact: true }).fill('wrong-token-wrong-token');
  await page.getByRole('button', { name: 'Show status' }).click();
  await eventually('the wrong token refused', async () =>
    (await pageText('#login-error'))?.includes('not accepted'));

  await page.getByLabel('Admin token', { exact: true }).fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Show status' }).click();
  await page.locator('#dash').waitFor({ state: 'visible' });

  // Both connectors appear and become ready.
  for (const name of ['hubspot', 'mailchimp']) {
    await eventually(name + ' ready on the page', async () =>
      (await pageText(`#connectors tr[data-connector="${name}"]`))?.includes('ready') &&
      !(await pageText(`#connectors tr[data-connector="${name}"]`)).includes('not ready'));
  }

  // The coverage chart shows the seeded grants.
  const granted = '#coverage [data-topic="product_news"][data-channel="email"] [data-bucket="granted"]';
  await eventually('3 granted for product_news', async () =>
    (await pageText(granted)) === 'granted 3', 40000);
  const neverAsked = '#coverage [data-topic="newsletter"] [data-bucket="not_asked"]';
  await eventually('never asked shown for newsletter', async () =>
    (await pageText(neverAsked)) === 'not asked 3', 20000);
  log('page shows the seeded counts');

  // A change in the simulator reaches the page by itself.
  await http(crm, 'POST', '/_sim/hubspot/person/signup',
    { email: 'reader4@example.com', subscriptionId: PRODUCT_UPDATES });
  await eventually('4 granted after a sign-up', async () =>
    (await pageText(granted)) === 'granted 4', 40000);
  await eventually('a recent decision line', async () =>
    (await page.locator('#recent li[data-number]').count()) > 0);
  log('page followed a live change');

  // The checkpoint card says what the last signed checkpoint covers (one
  // is signed every second here once entries were appended).
  await eventually('the last checkpoint covers every entry', async () =>
    (await pageText('#k-checkpoint-covers')) === 'covers every entry', 20000);

  if (args.screenshots) await shots(context, base);

  // A dead letter: every Mailchimp write fails (503) until the 2 attempts
  // are used up.
  await http(crm, 'POST', '/_sim/faults',
    { kind: 'error', system: 'mailchimp', method: 'POST', route: '/3.0/lists/*', status: 503 });
  await http(crm, 'POST', '/_sim/hubspot/person/signup',
    { email: 'reader5@example.com', subscriptionId: PRODUCT_UPDATES });
  const row = '#dlq tbody tr[data-id]';
  await eventually('a dead letter on the page', async () => (await page.locator(row).count()) === 1,
    40000);
  const id = await page.locator(row).first().getAttribute('data-id');
  const rowText = await pageText(row);
  if (/reader5@example\.com/.test(rowText)) throw new Error('dead letter shows an address: ' + rowText);
  log('dead letter', id, 'shown');
  if (args.screenshots) {
    await page.screenshot({ path: path.join(args.screenshots, 'status-dead-letter.png'), fullPage: true });
  }

  // The vendor recovers; the operator replays it from the page.
  await http(crm, 'DELETE', '/_sim/faults');
  await page.getByRole('button', { name: 'Replay dead letter ' + id }).click();
  await eventually('the dead letter gone', async () => (await page.locator(row).count()) === 0,
    30000);
  await eventually('the replayed write delivered to Mailchimp', async () => {
    const s = await http(journey, 'GET', '/_sim/mailchimp/state');
    return JSON.stringify(s.members || s).includes('reader5@example.com');
  }, 30000);
  await eventually('outbox of mailchimp empty', async () =>
    (await pageText('#outbox tr[data-target="mailchimp"] td.dead')) === '0');
  log('dead letter replayed from the page and delivered');

  if (consoleErrors.length) throw new Error('console errors: ' + consoleErrors.join(' | '));
}

// Laptop and phone views of the working page, for a human to look at.
async function shots(context, base) {
  fs.mkdirSync(args.screenshots, { recursive: true });
  await page.screenshot({ path: path.join(args.screenshots, 'status-laptop.png'), fullPage: true });
  const p = await context.newPage();
  await p.setViewportSize({ width: 390, height: 844 });
  await p.goto(base + '/');
  await p.getByLabel('Admin token', { exact: true }).fill(ADMIN_TOKEN);
  await p.getByRole('button', { name: 'Show status' }).click();
  await p.locator('#recent li[data-number]').first().waitFor();
  await p.screenshot({ path: path.join(args.screenshots, 'status-phone.png'), fullPage: true });
  await p.close();
}

function cleanup() {
  for (const c of children) { if (c.exitCode === null) c.kill('SIGTERM'); }
}

let failed = false;
try {
  await main();
  log('PASS');
} catch (err) {
  failed = true;
  console.error('[status-page-test] FAIL:', err.message);
  if (page) {
    const shot = path.join(dir, 'failure.png');
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error('[status-page-test] screenshot:', shot);
  }
  console.error('[status-page-test] logs in', dir);
}
if (browser) await browser.close().catch(() => {});
cleanup();
if (!failed) fs.rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
