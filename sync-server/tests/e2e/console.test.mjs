// End-to-end test of the office console in a real browser (Debian's headless Chromium driven by
// playwright-core). Started by scripts/test-console.sh, which runs the server and passes:
//   BASE_URL, CLERK_USER, CLERK_PASSWORD, DEVICE_BIN (the scripted phone), WORK_DIR.
//
// The story: the clerk imports a roster and enrols two phones (a building lead and a grid
// worker) from the devices page; the building lead's phone syncs a snap report with a photo;
// the clerk dispatches it in the browser; the worker's phone syncs, sees "dispatched" and
// handles it; the clerk verifies and closes; the lead's phone sees "closed" and rates it.
// The today page lists what phones synced since the clerk marked it as seen (by keyboard).
// Along the way: login by keyboard, a wrong password, CSRF, accessibility checks on every page,
// and screenshots of the board and the event page in artifacts/.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = process.env.BASE_URL;
const USER = process.env.CLERK_USER;
const PASSWORD = process.env.CLERK_PASSWORD;
const DEVICE = process.env.DEVICE_BIN;
const WORK = process.env.WORK_DIR;
const ARTIFACTS = join(here, 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

let passed = 0;
let failed = 0;
let stopped = false;

async function step(name, fn) {
  if (stopped) {
    failed++;
    console.log(`SKIP ${name} (an earlier step failed)`);
    return;
  }
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    stopped = true;
    console.log(`FAIL ${name}\n     ${e && e.stack ? e.stack.split('\n').slice(0, 4).join('\n     ') : e}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Runs the scripted phone; returns its JSON answer. */
function device(...args) {
  const out = execFileSync(DEVICE, [...args, '--dir', join(WORK, 'phones')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').pop());
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Reloads `url` until `check(page)` holds (the office syncs a moment after a phone pushes). */
async function until(page, url, check, what) {
  for (let i = 0; i < 40; i++) {
    const resp = await page.goto(url);
    if (resp && resp.ok() && (await check(page))) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every visible form control has a label, every button a name, one h1, lang set. */
async function accessible(page) {
  const problems = await page.evaluate(() => {
    const out = [];
    if (document.documentElement.lang !== 'zh-CN') out.push('html lang is not zh-CN');
    if (document.querySelectorAll('h1').length !== 1) out.push('not exactly one h1');
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden') continue;
      const labelled =
        (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) ||
        el.closest('label') ||
        el.getAttribute('aria-label') ||
        el.getAttribute('aria-labelledby');
      if (!labelled) out.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
    }
    for (const b of document.querySelectorAll('button, a')) {
      const name = (b.getAttribute('aria-label') || b.textContent || '').trim();
      if (!name) out.push(`${b.tagName.toLowerCase()} without a name`);
    }
    for (const img of document.querySelectorAll('img')) {
      if (!img.hasAttribute('alt')) out.push('img without alt');
    }
    return out;
  });
  assert(problems.length === 0, `accessibility: ${problems.join('; ')}`);
}

const profile = mkdtempSync(join(tmpdir(), 'gridwalk-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1366, height: 900 },
  locale: 'zh-CN',
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(15_000);

let eventId = '';

try {
  await step('pages need a login', async () => {
    await page.goto(`${BASE}/console/board`);
    assert(page.url().endsWith('/console/login'), `expected the login page, got ${page.url()}`);
    await accessible(page);
  });

  await step('a wrong password is refused', async () => {
    await page.fill('#username', USER);
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    assert((await page.textContent('[role=alert]')).includes('用户名或密码错误'), 'no error shown');
  });

  await step('the clerk logs in with the keyboard only', async () => {
    await page.goto(`${BASE}/console/login`);
    await page.focus('#username');
    await page.keyboard.type(USER);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL('**/console/today');
    await accessible(page);
  });

  await step('a POST without the CSRF token is refused', async () => {
    const status = await page.evaluate(async () => {
      const r = await fetch('/console/devices/enrol', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'csrf=wrong&person=x&role=grid_worker&scope=g1',
      });
      return r.status;
    });
    assert(status === 403, `expected 403, got ${status}`);
  });

  await step('the roster is imported from CSV (a bad file is reported, nothing imported)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gridwalk-roster-'));
    const header = '网格编号,网格名称,楼栋编号,楼栋名称,单元,门牌号,地址,面积,居住状态,关爱标签\n';
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, header + 'g1,第一网格,b1,1号楼,1,101,安居苑1号楼1单元101室,abc,自住,\n');
    await page.goto(`${BASE}/console/roster`);
    await accessible(page);
    await page.setInputFiles('#file', bad);
    await page.click('button:has-text("检查并导入")');
    const report = await page.textContent('#import-errors');
    assert(report.includes('面积'), 'the report does not name the bad column');
    const good = join(dir, 'roster.csv');
    let rows = header;
    for (const [g, b] of [['g1', 'b1'], ['g2', 'b2']]) {
      for (const door of ['101', '102', '201', '202']) {
        const tag = door === '101' ? '独居老人' : '';
        rows += `${g},第${g === 'g1' ? '一' : '二'}网格,${b},${b.slice(1)}号楼,1,${door},安居苑${b.slice(1)}号楼1单元${door}室,72.5,自住,${tag}\n`;
      }
    }
    writeFileSync(good, rows);
    await page.setInputFiles('#file', good);
    await page.click('button:has-text("检查并导入")');
    assert((await page.textContent('[role=status]')).includes('新增 8 户'), 'import did not create 8');
    await page.setInputFiles('#file', good);
    await page.click('button:has-text("检查并导入")');
    assert((await page.textContent('[role=status]')).includes('新增 0 户'), 're-import duplicated');
    rmSync(dir, { recursive: true, force: true });
  });

  const enrol = async (person, role, scope) => {
    await page.goto(`${BASE}/console/devices`);
    await accessible(page);
    await page.fill('#person', person);
    await page.selectOption('#role', role);
    await page.fill('#scope', scope);
    await page.click('#do-enrol');
    const code = (await page.textContent('#enrol-code')).trim();
    assert(/^[A-Z0-9]{5}-[A-Z0-9]{5}$/.test(code), `odd code ${code}`);
    assert((await page.locator('.qr svg').count()) === 1, 'no QR code');
    return code;
  };

  await step('the office enrols the building lead\'s and the grid worker\'s phones', async () => {
    const lead = await enrol('lead-1', 'building_lead', 'b1');
    assert(device('enrol', '--name', 'lead', '--server', BASE, '--code', lead).role === 'building_lead', 'lead');
    const worker = await enrol('worker-1', 'grid_worker', 'g1');
    assert(device('enrol', '--name', 'worker', '--server', BASE, '--code', worker).role === 'grid_worker', 'worker');
    await page.goto(`${BASE}/console/devices`);
    assert((await page.textContent('table')).includes('lead-1'), 'the device list lacks the lead');
  });

  await step('the building lead\'s phone syncs a snap report with a photo', async () => {
    const r = device('report', '--name', 'lead', '--grid', 'g1', '--building', 'b1',
      '--description', '楼道灯坏了 <script>alert(1)</script>');
    eventId = r.event;
    assert(r.state === 'registered', `state ${r.state}`);
  });

  await step('the report arrives: today, board (screenshot), escaped text', async () => {
    await until(page, `${BASE}/console/today`, async (p) => (await p.content()).includes(eventId), 'the report on the today page');
    await accessible(page);
    const since = await page.textContent('#since-line');
    assert(since.includes('自') && since.includes('以来'), `no "since" line: ${since}`);
    assert((await page.locator('img.thumb').count()) >= 1, 'the snap report\'s photo is not shown');
    await page.screenshot({ path: join(ARTIFACTS, 'today.png'), fullPage: true });
    await page.goto(`${BASE}/console/board`);
    await accessible(page);
    assert((await page.locator(`a[href="/console/events/${eventId}"]`).count()) === 1, 'not on the board');
    await page.screenshot({ path: join(ARTIFACTS, 'board.png'), fullPage: true });
    await page.goto(`${BASE}/console/events/${eventId}`);
    assert((await page.locator('script').count()) === 0, 'a hostile description became a script');
    assert((await page.textContent('main')).includes('<script>alert(1)</script>'), 'the description is not shown as text');
  });

  await step('the clerk marks today as seen with the keyboard; the report leaves the default view', async () => {
    await page.goto(`${BASE}/console/today`);
    await page.focus('#mark-seen');
    await page.keyboard.press('Enter');
    // The URL stays /console/today: wait for the new page's "since" line instead.
    await page.waitForFunction(
      () => (document.querySelector('#since-line')?.textContent || '').includes('您上次标为已阅'));
    assert(!(await page.content()).includes(eventId), 'the seen report is still listed');
    await accessible(page);
    await page.goto(`${BASE}/console/today?since=today`);
    assert((await page.content()).includes(eventId), 'the day view lost the report');
  });

  await step('the clerk dispatches it to the grid worker', async () => {
    await page.goto(`${BASE}/console/events/${eventId}`);
    await accessible(page);
    await page.fill('#assignee', 'worker-1');
    await page.click('#do-dispatch');
    await page.waitForURL('**done=dispatch');
    assert((await page.getAttribute('#event-state', 'data-state')) === 'dispatched', 'not dispatched');
  });

  await step('the worker\'s phone syncs, sees "dispatched" and handles it', async () => {
    assert(device('state', '--name', 'worker', '--event', eventId).state === 'dispatched', 'phone does not see dispatched');
    assert(device('handle', '--name', 'worker', '--event', eventId, '--note', '已更换灯泡').state === 'handled', 'not handled');
  });

  await step('the clerk verifies and closes (event page screenshot)', async () => {
    await until(page, `${BASE}/console/events/${eventId}`,
      async (p) => (await p.getAttribute('#event-state', 'data-state')) === 'handled', 'the handled state');
    await page.goto(`${BASE}/console/today`);
    assert((await page.content()).includes(eventId), 'the handled report is not under 事件进展');
    await page.goto(`${BASE}/console/events/${eventId}`);
    await page.fill('#note-verify', '现场核实已修复');
    await page.click('#do-verify');
    await page.waitForURL('**done=verify');
    assert((await page.getAttribute('#event-state', 'data-state')) === 'verified', 'not verified');
    await page.click('#do-close');
    await page.waitForURL('**done=close');
    assert((await page.getAttribute('#event-state', 'data-state')) === 'closed', 'not closed');
    await page.screenshot({ path: join(ARTIFACTS, 'event.png'), fullPage: true });
  });

  await step('the reporter\'s phone sees "closed" and rates it', async () => {
    assert(device('state', '--name', 'lead', '--event', eventId).state === 'closed', 'phone does not see closed');
    assert(device('rate', '--name', 'lead', '--event', eventId, '--rating', '5').state === 'closed', 'rating failed');
    await until(page, `${BASE}/console/events/${eventId}`,
      async (p) => (await p.textContent('main')).includes('5 / 5'), 'the rating');
  });

  await step('coverage, households and exports render', async () => {
    for (const path of ['/console/coverage', '/console/households?q=安居苑', '/console/export']) {
      await page.goto(`${BASE}${path}`);
      await accessible(page);
    }
    const status = await page.evaluate(async () => (await fetch('/console/export/events.xlsx')).status);
    assert(status === 200, `export answered ${status}`);
  });

  await step('logging out ends the session', async () => {
    await page.click('button:has-text("退出登录")');
    await page.waitForURL('**/console/login');
    await page.goto(`${BASE}/console/today`);
    assert(page.url().endsWith('/console/login'), 'still logged in');
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
