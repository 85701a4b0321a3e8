// The web console in a real browser: Debian's chromium (/usr/bin/chromium),
// driven by playwright-core, with axe-core, against a real dev server with
// dual control on. Run by scripts/console-browser-test.sh (which does
// `npm ci` here first); never `playwright install`.
//
//   STRONGROOM_BIN=target/release/strongroom node console.test.mjs
//   SCREENSHOTS=docs/console   write the screenshots there (both widths); unset: none
//                              (scripts/console-browser-test.sh sets it only
//                              when CONSOLE_SCREENSHOTS=1, so CI leaves the tree clean)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const BIN = process.env.STRONGROOM_BIN || 'target/release/strongroom';
const SHOTS = process.env.SCREENSHOTS || '';
const ROOT = 'dev-only-token';
const axeSource = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

const results = [];
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}\n${e.stack || e}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

const port = await freePort();
const BASE = `http://127.0.0.1:${port}`;
const server = spawn(BIN, ['server', '--dev', '--dev-root-token', ROOT, '--dev-dual-control',
  '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
let serverLog = '';
server.stdout.on('data', (d) => { serverLog += d; });
server.stderr.on('data', (d) => { serverLog += d; });

async function api(method, path, body, token = ROOT) {
  const r = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

for (let i = 0; ; i++) {
  try { if ((await fetch(BASE + '/v1/sys/health')).status < 500) break; } catch { /* not yet */ }
  if (i > 300) { console.log(serverLog); throw new Error('the dev server did not answer in 30 s'); }
  await new Promise((r) => setTimeout(r, 100));
}

// Identities: a key administrator (also an approver) who asks, two approvers who answer, an
// auditor, and an identity with no rights. Root creates them (root is not
// under dual control).
const tokens = {};
for (const [name, roles] of [['alice', ['key-admin', 'approver']], ['bob', ['approver']], ['carol', ['approver']],
  ['dave', ['auditor']], ['eve', []]]) {
  const c = await api('POST', '/v1/identities', { name, roles });
  assert.equal(c.status, 200, c.text);
  const t = await api('POST', '/v1/tokens', { identity: name });
  assert.equal(t.status, 200, t.text);
  tokens[name] = t.json.token;
}
tokens.root = ROOT;

// frank may read the secrets under app/ (values included); nothing else.
{
  const p = await api('POST', '/v1/policies', {
    name: 'app-secrets',
    statements: [{ effect: 'Allow', actions: ['ReadSecret', 'ReadSecretMetadata', 'ListSecrets'].map((a) => `strongroom:${a}`),
      resources: ['secret/app/*'] }],
  });
  assert.equal(p.status, 200, p.text);
  const c = await api('POST', '/v1/identities', { name: 'frank', roles: [], policies: ['app-secrets'] });
  assert.equal(c.status, 200, c.text);
  const t = await api('POST', '/v1/tokens', { identity: 'frank' });
  assert.equal(t.status, 200, t.text);
  tokens.frank = t.json.token;
}
const CANARY = 'canary-browser-reveal-91d3';
const XSS = '<script>window.__xss=7</script><img src=x onerror="window.__xss=8">';
{
  const w = await api('PUT', '/v1/secrets/data/app/db', { data: { password: CANARY, user: 'payments' } });
  assert.equal(w.status, 200, w.text);
  const m = await api('PATCH', '/v1/secrets/metadata/app/db', {
    owner: 'payments team', purpose: XSS, rotation_period_days: 30, custom_metadata: { note: XSS },
  });
  assert.equal(m.status, 200, m.text);
  const d = await api('PUT', '/v1/secrets/data/app/api/token', { data: { token: 'not-a-real-token' } });
  assert.equal(d.status, 200, d.text);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  // Playwright gives every launch a fresh, temporary user-data dir.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

async function context(width = 1280) {
  return browser.newContext({ viewport: { width, height: 900 } });
}

async function signIn(page, who) {
  await page.goto(`${BASE}/ui/sign-in`);
  await page.fill('#token', tokens[who]);
  await Promise.all([page.waitForURL(`${BASE}/ui/`), page.click('button[type=submit]')]);
  assert.equal(await page.textContent('#whoami'), who === 'root' ? 'root' : who);
}

async function flash(page) {
  return (await page.textContent('#flash')) || '';
}

async function axeCheck(page, label) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const serious = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `${label}: axe-core found serious violations: ${JSON.stringify(serious)}`);
  return r;
}

let keyId = null;
let requestId = null;

try {
  await test('sign-in page: strict CSP, no inline script; a wrong token is refused', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    const resp = await page.goto(`${BASE}/ui/sign-in`);
    const csp = resp.headers()['content-security-policy'];
    assert.match(csp, /script-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(await page.locator('script').count(), 0);
    await page.fill('#token', 'not-a-token');
    await page.click('button[type=submit]');
    assert.match(await page.textContent('#sign-in-error'), /not valid/);
    await ctx.close();
  });

  await test('sign in and sign out; after sign-out the pages ask to sign in again', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'root');
    const cookies = await ctx.cookies();
    const sid = cookies.find((c) => c.name === 'strongroom_console');
    assert.ok(sid && sid.httpOnly && sid.sameSite === 'Strict', JSON.stringify(cookies));
    await page.click('header .signout button');
    await page.waitForURL(`${BASE}/ui/sign-in`);
    await page.goto(`${BASE}/ui/keys`);
    assert.equal(page.url(), `${BASE}/ui/sign-in`);
    await ctx.close();
  });

  await test('CSRF: a form posted without (or with a wrong) token is refused and changes nothing', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'alice');
    const before = (await api('GET', '/v1/keys?limit=1000')).json.keys.length;
    for (const form of [{ description: 'csrf probe' }, { description: 'csrf probe', csrf: 'f'.repeat(64) }]) {
      const r = await page.request.post(`${BASE}/ui/keys`, { form, maxRedirects: 0 });
      assert.equal(r.status(), 403);
      assert.match(await r.text(), /security token \(CSRF protection\)/);
    }
    const after = (await api('GET', '/v1/keys?limit=1000')).json.keys.length;
    assert.equal(after, before);
    await ctx.close();
  });

  await test('XSS: script payloads in a description, a tag and an alias render inert', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'alice');
    const payload = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
    await page.goto(`${BASE}/ui/keys`);
    await page.fill('#c-desc', payload);
    await page.fill('#c-tag', 'note=<svg onload="window.__xss=3">');
    await page.click('text=Create key');
    assert.match(await flash(page), /was created/);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.ok((await page.textContent('#key-facts')).includes(payload), 'the payload shows as text');
    assert.ok((await page.textContent('#key-tags')).includes('<svg onload='));
    assert.equal(await page.locator('main img, main svg, main script').count(), 0);
    await page.goto(`${BASE}/ui/keys`);
    assert.ok((await page.textContent('#keys')).includes(payload));
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    // An alias with markup is refused by validation; the refusal is shown escaped.
    await page.fill('#c-alias', 'alias/<img src=x onerror="window.__xss=4">');
    await page.click('text=Create key');
    assert.match(await flash(page), /alias/i);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('main img').count(), 0);
    // An identity name with markup is refused by the API; the identities page stays inert.
    const bad = await api('POST', '/v1/identities', { name: '<img src=x onerror="window.__xss=5">' });
    assert.equal(bad.status, 400, bad.text);
    await ctx.close();
  });

  await test('dual control across three browser contexts: create, rotate, request deletion; two approvers answer; the requester cannot approve', async () => {
    const a = await context();
    const alice = await a.newPage();
    await signIn(alice, 'alice');
    await alice.goto(`${BASE}/ui/keys`);
    await alice.fill('#c-desc', 'payments key');
    await alice.fill('#c-alias', 'alias/payments');
    await alice.click('text=Create key');
    assert.match(await flash(alice), /was created/);
    keyId = alice.url().split('/ui/keys/')[1];
    await alice.click('#act-rotate');
    assert.match(await flash(alice), /primary version is now 2/);
    assert.equal(await alice.locator('#versions tbody tr').count(), 2);
    await alice.fill('#days', '7');
    assert.match(await alice.textContent('#act-schedule'), /Request deletion \(needs 2 approvals\)/);
    await alice.click('#act-schedule');
    const f = await flash(alice);
    const m = f.match(/Approval request (\S+) was created/);
    assert.ok(m, f);
    requestId = m[1];
    // The requester sees the buttons disabled, with the reason...
    await alice.goto(`${BASE}/ui/approvals`);
    const card = alice.locator(`[data-approval="${requestId}"]`);
    assert.ok(await card.locator('button.approve').isDisabled());
    assert.match(await card.locator('.why').textContent(), /You made this request/);
    // ...and the server refuses it even when the form is forced.
    await card.locator('button.approve').evaluate((b) => b.removeAttribute('disabled'));
    await card.locator('button.approve').click();
    assert.match(await flash(alice), /Refused: .*cannot approve its own request/);

    for (const [who, expect] of [['bob', /1 of 2/], ['carol', /quorum was reached and the change ran/]]) {
      const c = await context();
      const p = await c.newPage();
      await signIn(p, who);
      await p.goto(`${BASE}/ui/approvals`);
      const mine = p.locator(`[data-approval="${requestId}"]`);
      assert.ok(await mine.locator('button.approve').isEnabled());
      await mine.locator('button.approve').click();
      assert.match(await flash(p), expect);
      await c.close();
    }
    await alice.goto(`${BASE}/ui/keys/${keyId}`);
    assert.match(await alice.textContent('#key-facts'), /PendingDeletion/);
    await a.close();
  });

  await test('audit: filters by key, identity, action and outcome; the chain check', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'dave');
    await page.goto(`${BASE}/ui/audit?key=${keyId}`);
    const keyRows = await page.locator('#audit tbody tr').allTextContents();
    assert.ok(keyRows.length >= 4, keyRows.join('\n'));
    assert.ok(keyRows.every((r) => r.includes(keyId)));
    await page.goto(`${BASE}/ui/audit`);
    await page.fill('#a-identity', 'bob');
    await page.fill('#a-action', 'strongroom:Approve');
    await page.selectOption('#a-outcome', 'allowed');
    await Promise.all([page.waitForURL(/identity=bob/), page.click('form.filters button')]);
    const bobRows = await page.locator('#audit tbody tr').allTextContents();
    assert.ok(bobRows.length >= 1 && bobRows.every((r) => r.includes('bob') && r.includes('strongroom:Approve')), bobRows.join('\n'));
    await page.goto(`${BASE}/ui/audit?identity=alice&outcome=error`);
    const refused = await page.locator('#audit tbody tr').allTextContents();
    assert.ok(refused.some((r) => r.includes('strongroom:Approve') && r.includes('AccessDenied')), refused.join('\n'));
    await page.goto(`${BASE}/ui/audit?from=not-a-time`);
    assert.match(await page.textContent('main'), /is not a time/);
    await page.goto(`${BASE}/ui/audit`);
    await page.click('#verify');
    assert.match(await page.textContent('#chain-result'), /Chain intact: \d+ entries/);
    await ctx.close();
  });

  await test('a user without rights sees refusals, not errors, and no enabled actions', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'eve');
    let r = await page.goto(`${BASE}/ui/keys`);
    assert.equal(r.status(), 403);
    assert.match(await page.textContent('main'), /Refused: access denied/);
    assert.ok(await page.locator('text=Create key').isDisabled());
    for (const path of ['/ui/approvals', '/ui/audit', '/ui/compliance', '/ui/identities', `/ui/keys/${keyId}`]) {
      r = await page.goto(BASE + path);
      assert.equal(r.status(), 403, path);
      assert.match(await page.textContent('main'), /Refused/, path);
    }
    r = await page.goto(`${BASE}/ui/`);
    assert.equal(r.status(), 200);
    assert.match(await page.textContent('main'), /do not allow kms:ListKeys/);
    // The auditor may read keys but every action is disabled, with the reason.
    const c2 = await context();
    const p2 = await c2.newPage();
    await signIn(p2, 'dave');
    await p2.goto(`${BASE}/ui/keys/${keyId}`);
    for (const id of ['#act-rotate', '#act-disable', '#act-compromise', '#act-cancel']) {
      assert.ok(await p2.locator(id).isDisabled(), id);
    }
    assert.match(await p2.textContent('#why-cancel'), /Not available to you/);
    await c2.close();
    await ctx.close();
  });

  await test('secrets: browse, metadata without the value, an audited reveal that shows in the audit log', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'frank');
    await page.click('nav >> text=Secrets');
    // frank may not list the top folder: a refusal that says why, not an error.
    assert.match(await page.textContent('#refused'), /Refused/);
    await page.goto(`${BASE}/ui/secrets?folder=app/`);
    assert.deepEqual((await page.locator('#secrets li').allTextContents()).map((t) => t.trim()), ['folder api/', 'db']);
    await page.click('#secrets >> text=db');
    assert.equal(page.url(), `${BASE}/ui/secrets/app/db`);
    const detail = await page.textContent('main');
    assert.ok(!detail.includes(CANARY), 'no value before the reveal');
    assert.match(detail, /every 30 days/);
    assert.match(await page.textContent('#secret-versions'), /live/);
    // The XSS payload in the purpose and custom metadata is text, and inert.
    assert.ok((await page.textContent('#secret-facts')).includes(XSS));
    assert.ok((await page.textContent('#secret-custom')).includes(XSS));
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('main img, main script').count(), 0);
    // The reveal: a POST answer, the value shown once, not in the address.
    const [resp] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#reveal')]);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['cache-control'], /no-store/);
    assert.ok((await page.textContent('#revealed')).includes(CANARY));
    assert.ok(!page.url().includes(CANARY));
    assert.equal(page.url(), `${BASE}/ui/secrets/app/db`);
    // Back on the detail page: the value is gone, the last read is shown.
    await page.click('#hide');
    assert.ok(!(await page.textContent('main')).includes(CANARY));
    assert.match(await page.textContent('#secret-facts'), /by frank, version 1/);
    await ctx.close();
    // The read is in the audit log, as frank, with the path and version (the auditor looks).
    const c2 = await context();
    const p2 = await c2.newPage();
    await signIn(p2, 'dave');
    await p2.goto(`${BASE}/ui/audit?key=${encodeURIComponent('secret/app/db')}&action=strongroom:ReadSecret`);
    const rows = await p2.locator('#audit tbody tr').allTextContents();
    assert.ok(rows.some((r) => r.includes('frank') && r.includes('secret/app/db v1') && r.includes('allowed')), rows.join('\n'));
    assert.ok(rows.every((r) => !r.includes(CANARY)));
    await c2.close();
  });

  await test('secrets: a user without ReadSecret sees the reveal disabled with the reason; forcing it is refused', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'dave');
    await page.goto(`${BASE}/ui/secrets/app/db`);
    assert.ok(await page.locator('#reveal').isDisabled());
    assert.match(await page.textContent('#why-reveal'), /Not available to you/);
    await page.locator('#reveal').evaluate((b) => b.removeAttribute('disabled'));
    const [resp] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#reveal')]);
    assert.equal(resp.status(), 403);
    assert.match(await page.textContent('#message'), /Refused: .*needs strongroom:ReadSecret/);
    assert.ok(!(await page.textContent('main')).includes(CANARY));
    // eve has no rights at all: the secrets pages refuse, with the reason.
    const c2 = await context();
    const p2 = await c2.newPage();
    await signIn(p2, 'eve');
    for (const path of ['/ui/secrets', '/ui/secrets/app/db']) {
      const r = await p2.goto(BASE + path);
      assert.equal(r.status(), 403, path);
      assert.match(await p2.textContent('main'), /Refused/, path);
    }
    await c2.close();
    await ctx.close();
  });

  await test('secrets: markup in a secret path is refused by the path rule and rendered inert', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'root');
    const bad = '<img src=x onerror="window.__xss=9">';
    const r = await page.goto(`${BASE}/ui/secrets/app/${encodeURIComponent(bad)}`);
    assert.equal(r.status(), 400);
    assert.ok((await page.textContent('#message')).includes('<img src=x onerror='), 'the refusal shows the path as text');
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('main img').count(), 0);
    const r2 = await page.goto(`${BASE}/ui/secrets?folder=${encodeURIComponent(bad)}`);
    assert.equal(r2.status(), 400);
    assert.ok((await page.textContent('#refused')).includes('<img src=x onerror='));
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('main img').count(), 0);
    // The API refuses such a path too: nothing was created.
    const w = await api('PUT', `/v1/secrets/data/${encodeURIComponent(bad)}`, { data: { v: '1' } });
    assert.equal(w.status, 400, w.text);
    await ctx.close();
  });

  await test('axe-core: no serious violations on any page; screenshots at 1280 and 390 px', async () => {
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
    // A pending request, so the approvals page shows the buttons.
    const a = await context();
    const alice = await a.newPage();
    await signIn(alice, 'alice');
    await alice.goto(`${BASE}/ui/keys`);
    await alice.fill('#c-desc', 'reporting key');
    await alice.fill('#c-alias', 'alias/reports');
    await alice.fill('#c-owner', 'finance');
    await alice.fill('#c-tag', 'env=prod');
    await alice.click('text=Create key');
    await alice.click('#act-schedule');
    await a.close();
    const pages = [['sign-in', '/ui/sign-in', null], ['overview', '/ui/', 'root'], ['keys', '/ui/keys', 'root'],
      ['key', `/ui/keys/${keyId}`, 'root'], ['approvals', '/ui/approvals', 'bob'],
      ['audit', '/ui/audit?verify=1', 'root'], ['compliance', '/ui/compliance', 'root'],
      ['identities', '/ui/identities', 'root'], ['secrets', '/ui/secrets?folder=app/', 'root'],
      ['secret', '/ui/secrets/app/db', 'root'], ['secret-refused', '/ui/secrets/app/db', 'dave']];
    for (const width of [1280, 390]) {
      const sessions = {};
      for (const [name, path, who] of pages) {
        let ctx = who && sessions[who];
        if (!ctx) {
          ctx = await context(width);
          if (who) { await signIn(await ctx.newPage(), who); sessions[who] = ctx; }
        }
        const page = await ctx.newPage();
        const resp = await page.goto(BASE + path);
        assert.equal(resp.status(), 200, `${path} as ${who}`);
        await axeCheck(page, `${name} at ${width}px`);
        if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}-${width}.png`, fullPage: true });
        await page.close();
        if (!who) await ctx.close();
      }
      // The reveal answer (a POST), as frank.
      const fc = await context(width);
      const fp = await fc.newPage();
      await signIn(fp, 'frank');
      await fp.goto(`${BASE}/ui/secrets/app/api/token`);
      await fp.click('#reveal');
      assert.ok((await fp.textContent('#revealed')).includes('not-a-real-token'));
      await axeCheck(fp, `reveal at ${width}px`);
      if (SHOTS) await fp.screenshot({ path: `${SHOTS}/reveal-${width}.png`, fullPage: true });
      await fc.close();
      for (const c of Object.values(sessions)) await c.close();
    }
  });

  await test('the compliance report downloads as the signed JSON', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'root');
    await page.goto(`${BASE}/ui/compliance`);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const body = JSON.parse(readFileSync(await dl.path(), 'utf8'));
    assert.equal(body.report.format, 'strongroom-compliance-report/1');
    assert.ok(body.signature.sha256.length === 64, JSON.stringify(body.signature));
    assert.ok((await page.textContent('#overall')).length > 0);
    await ctx.close();
  });

  await test('a session idle longer than 15 minutes (on the node clock) has expired', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    await signIn(page, 'root');
    const adv = await api('POST', '/v1/sys/dev/advance-clock', { days: 0, seconds: 16 * 60 });
    assert.equal(adv.status, 200, adv.text);
    await page.goto(`${BASE}/ui/keys`);
    assert.equal(page.url(), `${BASE}/ui/sign-in?expired=1`);
    assert.match(await page.textContent('main'), /session ended after 15 minutes without use/);
    await ctx.close();
  });
} finally {
  await browser.close();
  server.kill('SIGTERM');
}

const failed = results.filter(([, ok]) => !ok);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
if (failed.length) {
  console.log('--- server log ---\n' + serverLog.slice(-4000));
  process.exit(1);
}
