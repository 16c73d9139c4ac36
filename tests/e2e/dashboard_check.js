// dashboard_check.js: drives Debian's chromium with playwright-core through
// the dashboard at GET / of a running inferd (tests/e2e/test_dashboard.py
// starts it). Loads the page, sends traffic from here with fetch (the
// batching "tst" model, some requests failing on purpose, and "simple"),
// loads model "ids" through the repository API (the server runs in explicit
// mode) and fails to load "broken", and checks that the page's charts got
// points that moved, that the failures and both loads appear in the event
// list, and that the page fetched
// nothing from anywhere but this server. Saves a screenshot.
//
// Usage: node dashboard_check.js <base url> <screenshot.png>
// Env: CHROMIUM (default /usr/bin/chromium); NODE_PATH must reach
// playwright-core. Prints one JSON line "RESULT {...}" and exits 0 when
// every check passed, else prints "FAIL: <why>" and exits 1.
'use strict';

const { chromium } = require('playwright-core');

const base = process.argv[2];
const shot = process.argv[3];
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

function fail(why) {
  console.log('FAIL: ' + why);
  process.exit(1);
}

async function post(path, body) {
  const r = await fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? '' : JSON.stringify(body),
  });
  await r.arrayBuffer();
  return r.status;
}

function simpleBody(batch) {
  const a = [], b = [];
  for (let i = 0; i < 16 * batch; i++) { a.push(i); b.push(1); }
  return { inputs: [
    { name: 'INPUT0', datatype: 'INT32', shape: [batch, 16], data: a },
    { name: 'INPUT1', datatype: 'INT32', shape: [batch, 16], data: b }] };
}

function tstBody(failIt) {
  const body = { inputs: [
    { name: 'INPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] };
  if (failIt) body.parameters = { fail: true };
  return body;
}

// Workers sending requests until `until`; counts answers by status.
async function traffic(until, counts) {
  const worker = async (w) => {
    for (let i = 0; Date.now() < until; i++) {
      let st;
      if (w === 0)
        st = await post('/v2/models/simple/infer', simpleBody(1 + (i % 2)));
      else
        st = await post('/v2/models/tst/infer', tstBody(i % 10 === 9));
      counts[st] = (counts[st] || 0) + 1;
    }
  };
  const ws = [];
  for (let w = 0; w < 6; w++) ws.push(worker(w));
  await Promise.all(ws);
}

async function waitFor(page, fn, arg, what, timeoutMs) {
  try {
    await page.waitForFunction(fn, arg, { timeout: timeoutMs || 15000, polling: 200 });
  } catch (e) {
    const d = await page.evaluate(() => JSON.stringify({
      polls: window.inferdDashboard && window.inferdDashboard.polls,
      events: window.inferdDashboard && window.inferdDashboard.events.slice(-10),
    }));
    fail(what + ' (waited ' + (timeoutMs || 15000) + ' ms; page state ' + d + ')');
  }
}

(async () => {
  const browser = await chromium.launch({ executablePath, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const foreign = [];
    const consoleErrors = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base + '/') && !r.url().startsWith('data:'))
        foreign.push(r.url());
    });
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    const resp = await page.goto(base + '/', { waitUntil: 'load' });
    if (resp.status() !== 200) fail('GET / answered ' + resp.status());
    const ctype = resp.headers()['content-type'];
    if (ctype !== 'text/html; charset=utf-8') fail('GET / content-type ' + ctype);

    await waitFor(page, () => window.inferdDashboard && window.inferdDashboard.polls >= 2 &&
        window.inferdDashboard.server !== null, null, 'the page did not poll twice');
    const title = await page.textContent('#server');
    if (!/^inferd /.test(title)) fail('server name/version not shown: ' + title);

    const counts = {};
    await traffic(Date.now() + 4000, counts);
    if (!counts[200] || !counts[500]) fail('traffic answers ' + JSON.stringify(counts));

    // every chart of the busy models got points, and they moved
    await waitFor(page, () => {
      const s = window.inferdDashboard.samples;
      const busy = (m) => (s[m] || []).some((x) => x.rps > 0);
      return busy('simple') && busy('tst');
    }, null, 'no requests/s point above zero');
    const charts = await page.evaluate(() => {
      const out = {};
      document.querySelectorAll('canvas[data-model]').forEach((c) => {
        out[c.dataset.model + '/' + c.dataset.chart] = Number(c.dataset.points || 0);
      });
      const s = window.inferdDashboard.samples;
      const max = (m, k) => Math.max(0, ...(s[m] || []).map((x) => x[k] || 0));
      return {
        points: out,
        simple: { rps: max('simple', 'rps'), latencyMs: max('simple', 'latencyMs'),
                  batch: max('simple', 'batch'), inFlight: max('simple', 'inFlight') },
        tst: { rps: max('tst', 'rps'), fps: max('tst', 'fps'),
               queueMs: max('tst', 'queueMs'), batch: max('tst', 'batch'),
               inFlight: max('tst', 'inFlight'), inQueue: max('tst', 'inQueue') },
      };
    });
    for (const k of ['rps', 'latency', 'queue', 'batch', 'pending'])
      for (const m of ['simple', 'tst'])
        if (!(charts.points[m + '/' + k] > 0)) fail('chart ' + m + '/' + k + ' has no points');
    const c = charts;
    if (!(c.simple.rps > 0 && c.simple.latencyMs > 0 && c.simple.batch >= 1 &&
          c.simple.inFlight > 0))
      fail('simple charts did not move: ' + JSON.stringify(c.simple));
    if (!(c.tst.fps > 0 && c.tst.queueMs > 0 && c.tst.batch > 1 && c.tst.inQueue > 0))
      fail('tst charts did not move: ' + JSON.stringify(c.tst));

    // failures appear as error events
    await waitFor(page, () => window.inferdDashboard.events.some(
        (e) => e.kind === 'error' && e.model === 'tst'), null, 'no error event for tst');

    // a model load through the repository API appears as it happens
    const st = await post('/v2/repository/models/ids/load');
    if (st !== 200) fail('load of ids answered ' + st);
    await waitFor(page, () => window.inferdDashboard.events.some(
        (e) => e.kind === 'load' && e.model === 'ids' && /READY/.test(e.text)),
        null, 'the load of ids is not in the event list');
    await waitFor(page, () => Array.from(document.querySelectorAll('#events li.load'))
        .some((li) => /ids: .*v1 READY/.test(li.textContent)), null,
        'the load of ids is not shown in #events');
    await waitFor(page, () => Array.from(document.querySelectorAll('#models tr'))
        .some((tr) => /^ids1READY/.test(tr.textContent)), null, 'ids is not READY in the table');

    // a load that fails shows as an error with the server's reason
    const bst = await post('/v2/repository/models/broken/load');
    if (bst === 200) fail('load of broken answered 200');
    await waitFor(page, () => window.inferdDashboard.events.some(
        (e) => e.kind === 'error' && e.model === 'broken' && /UNAVAILABLE \(/.test(e.text)),
        null, 'the failed load of broken is not an error event');

    await page.waitForTimeout(1200); // one more poll, so the screenshot shows it all
    await page.screenshot({ path: shot, fullPage: true });
    if (foreign.length) fail('requests outside the server: ' + foreign.join(' '));
    if (consoleErrors.length) fail('console errors: ' + consoleErrors.join(' | '));
    const events = await page.evaluate(() => window.inferdDashboard.events.map(
        (e) => e.kind + ' ' + e.text));
    console.log('RESULT ' + JSON.stringify({ counts, charts: c, events, screenshot: shot }));
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e && e.stack ? e.stack : String(e)));
