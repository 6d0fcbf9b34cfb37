// Browser test of the `starattn serve` web page: playwright-core drives Debian's chromium.
// Usage: node serve-page.mjs BASE_URL DOCUMENT_FILE
// Uploads the document, waits for per-host phase-1 progress to complete, asks two questions and
// checks that answers and timings appear. Prints one JSON line with what it saw; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, docFile] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'starattn-chromium-'));
// A fresh profile directory (playwright passes it to chromium as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const seen = {};
try {
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/');
  await page.waitForFunction(() => document.getElementById('model').textContent.length > 0);
  seen.model = await page.textContent('#model');

  // upload through the file input, as a person would
  await page.setInputFiles('#file', docFile);
  await page.waitForFunction((n) => document.getElementById('doc').value.length === n, readFileSync(docFile, 'utf8').length);
  await page.click('#upload');
  await page.waitForSelector('#hosts .host');
  await page.waitForFunction(() => document.getElementById('docstatus').dataset.status === 'ready', null, { timeout: 60000 });
  seen.hosts = await page.$$eval('#hosts .host', (rows) => rows.map((r) => ({ done: +r.dataset.done, total: +r.dataset.total })));
  if (seen.hosts.length < 2 || seen.hosts.some((h) => h.total < 1 || h.done !== h.total)) throw new Error('phase-1 progress incomplete: ' + JSON.stringify(seen.hosts));
  seen.phase1 = await page.textContent('#p1');
  if (!/phase 1: \d+ ms/.test(seen.phase1)) throw new Error('no phase-1 time: ' + seen.phase1);
  await page.waitForFunction(() => !document.getElementById('ask').disabled);

  seen.answers = [];
  for (const q of ['Which river is blue?', 'How many stones?']) {
    await page.fill('#question', q);
    await page.fill('#maxtok', '12');
    await page.click('#ask');
    await page.waitForFunction(() => { const a = document.querySelector('#answers .qa'); return a && a.dataset.done; }, null, { timeout: 60000 });
    const item = await page.$eval('#answers .qa', (e) => ({
      q: e.querySelector('.q').textContent, a: e.querySelector('.a').textContent, t: e.querySelector('.t').textContent, done: e.dataset.done }));
    if (item.done !== '1' || item.q !== q) throw new Error('question failed: ' + JSON.stringify(item));
    if (!/time to first token: \d+ ms/.test(item.t) || !/tokens\/s/.test(item.t) || !/reused/.test(item.t)) throw new Error('no timings: ' + item.t);
    seen.answers.push(item);
  }
  if (await page.$$eval('#answers .qa', (e) => e.length) !== 2) throw new Error('expected two answers');
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  console.log(JSON.stringify({ ok: true, ...seen }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e && e.message || e), ...seen }));
  process.exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
