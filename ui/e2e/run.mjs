// End to end, in the real app window, as a user would: Library -> launch isr-quick -> Runs
// until every run is done -> Compare shows the study's charts -> two selected runs compared
// field by field -> a run's page -> Report exports HTML -> a quick DPA launch, whose trained
// policy answers from the run view -> a quick light-field launch, whose run view shows its
// figures.
// Drives benchtop-app through tauri-driver (WebKitWebDriver) under Xvfb, on a
// temporary store. Saves a screenshot of every screen under $E2E_OUT (default
// target/e2e). With --bench it also prints cold start, idle RSS and RSS while four runs train.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { remote } from 'webdriverio';

const root = resolve(import.meta.dirname, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
const app = process.env.BENCHTOP_APP ?? join(targetDir, 'debug', 'benchtop-app');
const out = process.env.E2E_OUT ?? join(targetDir, 'e2e');
const bench = process.argv.includes('--bench');
mkdirSync(out, { recursive: true });
if (!existsSync(app)) throw new Error(`no app binary at ${app}: build it first (cargo build --workspace)`);

const work = mkdtempSync(join(tmpdir(), 'benchtop-e2e-'));
const env = {
  ...process.env,
  BENCHTOP_STORE: join(work, 'store'),
  BENCHTOP_EXPERIMENTS: join(work, 'experiments'),
  BENCHTOP_JOBS: bench ? '4' : (process.env.BENCHTOP_JOBS ?? ''),
};

// A user's experiment file with a mistake on line 5: the Library must say where.
mkdirSync(env.BENCHTOP_EXPERIMENTS, { recursive: true });
writeFileSync(join(env.BENCHTOP_EXPERIMENTS, 'broken.toml'), 'name = "broken"\nstudy = "isr"\nseeds = 2\n[params]\nn_envs = 1\n');
// And one whose name and description are markup: the window must show them as text.
const PAYLOAD_NAME = '<img src=x onerror="window.__pwned=1">';
const PAYLOAD_DESCRIPTION = '<script>window.__pwned=2</script> *md* [l](javascript:window.__pwned=3) $x$';
writeFileSync(
  join(env.BENCHTOP_EXPERIMENTS, 'payload.toml'),
  `name = '${PAYLOAD_NAME}'\nstudy = "isr"\ndescription = '${PAYLOAD_DESCRIPTION}'\nseeds = 1\n`,
);

const driverPort = 4444 + Math.floor(Math.random() * 1000);
const driver = spawn('tauri-driver', ['--port', String(driverPort), '--native-port', String(driverPort + 1000)], {
  env,
  stdio: ['ignore', 'inherit', 'inherit'],
});
await new Promise((r) => setTimeout(r, 1500));

let browser;
const fail = (message) => {
  throw new Error(message);
};
async function shot(name) {
  // Let the last frame paint before the screenshot.
  await new Promise((r) => setTimeout(r, 400));
  await browser.saveScreenshot(join(out, `${name}.png`));
  console.log(`e2e: screenshot ${join(out, `${name}.png`)}`);
}
function rssOfApp() {
  const pids = execFileSync('pgrep', ['-f', app]).toString().trim().split('\n').filter(Boolean);
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb = Math.max(kb, Number(m[1]));
    } catch {}
  }
  return kb / 1024;
}

try {
  const t0 = performance.now();
  browser = await remote({
    hostname: '127.0.0.1',
    port: driverPort,
    logLevel: 'warn',
    capabilities: { 'tauri:options': { application: app } },
  });
  const preset = await browser.$('[data-experiment="shipped:isr-quick.toml"]');
  await preset.waitForDisplayed({ timeout: 20_000 });
  const coldStartMs = performance.now() - t0;
  if ((await browser.getTitle()) !== 'Benchtop') fail(`window title is ${await browser.getTitle()}`);

  // Library: a broken file of the user's shows its file:line error, and the field's own.
  await (await browser.$('[data-experiment="user:broken.toml"]')).click();
  const fileError = await browser.$('#file-error');
  await fileError.waitForDisplayed({ timeout: 10_000 });
  if (!/broken\.toml:5:\d+: params\.n_envs: /.test(await fileError.getText())) fail(`file error: ${await fileError.getText()}`);
  await (await browser.$('[data-error-for="n_envs"]')).waitForDisplayed({ timeout: 5_000 });
  if (await (await browser.$('#launch')).isEnabled()) fail('a broken experiment can be launched');

  // Library: an experiment named and described in markup shows it as text and runs nothing.
  await (await browser.$('[data-experiment="user:payload.toml"]')).click();
  await browser.waitUntil(async () => (await browser.$('body').getText()).includes(PAYLOAD_NAME), {
    timeout: 10_000,
    timeoutMsg: 'the markup name is not shown as text',
  });
  if ((await (await browser.$('#f-desc')).getValue()) !== PAYLOAD_DESCRIPTION) fail('the markup description is not shown as text');
  await browser.pause(500); // time for an injected image's onerror to have fired
  if ((await browser.execute(() => window.__pwned ?? null)) !== null) fail('a stored payload ran');
  if ((await browser.$$('img[src="x"]')).length > 0) fail('a stored payload became an element');
  if ((await browser.$$('a[href^="javascript:"]')).length > 0) fail('a stored payload became a link');

  // Library: pick the quick preset and launch it.
  await preset.click();
  const launch = await browser.$('#launch');
  await browser.waitUntil(async () => (await launch.isEnabled()) && /Launch 18 runs/.test(await launch.getText()), {
    timeout: 20_000,
    timeoutMsg: 'the Launch button never offered 18 runs',
  });
  await shot('1-library');
  let idleRss = 0;
  if (bench) idleRss = rssOfApp();
  await launch.click();

  // Runs: wait until every run is done.
  const counts = await browser.$('#run-counts');
  await counts.waitForDisplayed({ timeout: 10_000 });
  await browser.waitUntil(
    async () => (await counts.getAttribute('data-total')) === '18' && (await counts.getAttribute('data-done')) === '18',
    { timeout: 180_000, interval: 500, timeoutMsg: `runs did not finish: ${await counts.getText()}` },
  );
  await shot('2-runs');

  // Runs: the search box takes a query; a mistake is shown with its column.
  const query = await browser.$('#run-query');
  await query.setValue('method = erm AND seed IN (0, 1)');
  await browser.waitUntil(
    async () => {
      const total = Number(await counts.getAttribute('data-total'));
      return total > 0 && total < 18;
    },
    { timeout: 10_000, timeoutMsg: `the query did not narrow the runs: ${await counts.getText()}` },
  );
  await query.setValue('method <');
  const queryError = await browser.$('#runs-error');
  await queryError.waitForDisplayed({ timeout: 10_000 });
  if (!/column 9/.test(await queryError.getText())) fail(`the query error has no column: ${await queryError.getText()}`);
  // Emptied by keys, as a user would (a WebDriver clear sends no input event).
  await query.click();
  await browser.keys(['Control', 'a']);
  await browser.keys('Backspace');
  await browser.waitUntil(async () => (await counts.getAttribute('data-total')) === '18', { timeout: 10_000 });

  // Runs: grouped by the swept parameters but the seed, one row per sweep point, each with
  // its runs counted and its metrics as mean ± 95% CI.
  await (await browser.$('#group-toggle')).click();
  await (await browser.$('#run-groups')).waitForDisplayed({ timeout: 10_000 });
  await browser.waitUntil(async () => (await browser.$$('#run-groups tr.group')).length > 1, { timeout: 10_000 });
  const groupRows = await browser.$$('#run-groups tr.group');
  if (groupRows.length >= 18) fail(`grouping left ${groupRows.length} rows of 18 runs`);
  if (!/±/.test(await groupRows[0].getText())) fail(`a group row has no interval: ${await groupRows[0].getText()}`);
  await shot('2b-groups');
  await (await browser.$('#group-toggle')).click();

  // Compare: the study's default charts for the experiment, drawn.
  await (await browser.$('[data-screen="compare"]')).click();
  const chart = await browser.$('#default-charts figure img');
  await chart.waitForDisplayed({ timeout: 30_000 });
  // The charts are drawn again as the last runs' results arrive: wait for the drawing of the
  // finished runs rather than reading the first one shown (read afresh each time, as the
  // image element may be replaced).
  const firstSrc = async () => (await (await browser.$('#default-charts figure img')).getAttribute('src')) ?? '';
  await browser
    .waitUntil(async () => decodeURIComponent(await firstSrc()).includes('test_error'), { timeout: 30_000 })
    .catch(() => fail('the first chart does not name test_error'));
  const src = await firstSrc();
  if (!src.startsWith('data:image/svg+xml')) fail(`the chart is not an SVG image: ${src.slice(0, 40)}`);
  const charts = await browser.$$('#default-charts figure img');
  if (charts.length < 3) fail(`expected the study's charts, got ${charts.length}`);
  await shot('3-compare');

  // A box dragged across the first chart zooms it (drawn again at the box's range); a double
  // click goes back to the whole chart.
  const pointer = (kinds) =>
    browser.execute((kinds) => {
      const img = document.querySelector('#default-charts figure img');
      const area = img.parentElement;
      const r = img.getBoundingClientRect();
      for (const [kind, fx, fy] of kinds) {
        area.dispatchEvent(
          new MouseEvent(kind, { clientX: r.left + fx * r.width, clientY: r.top + fy * r.height, bubbles: true, button: 0 }),
        );
      }
    }, kinds);
  const zoomed = async () => (await (await browser.$('#default-charts figure')).getAttribute('data-zoomed')) === 'true';
  await pointer([
    ['mousedown', 0.3, 0.3],
    ['mousemove', 0.5, 0.6],
    ['mouseup', 0.5, 0.6],
  ]);
  await browser.waitUntil(zoomed, { timeout: 10_000, timeoutMsg: 'a box dragged across a chart did not zoom it' });
  await shot('3b-zoomed');
  await pointer([['dblclick', 0.5, 0.5]]);
  await browser.waitUntil(async () => !(await zoomed()), { timeout: 10_000, timeoutMsg: 'a double click did not reset the zoom' });

  // Differences: two runs selected on the Runs screen, compared field by field.
  await (await browser.$('[data-screen="runs"]')).click();
  await (await browser.$('tr.run input[type="checkbox"]')).waitForDisplayed({ timeout: 10_000 });
  const boxes = await browser.$$('tr.run input[type="checkbox"]');
  if (boxes.length < 2) fail(`expected run checkboxes, got ${boxes.length}`);
  await boxes[0].click();
  await boxes[1].click();
  await (await browser.$('#compare-selected')).click();
  const diff = await browser.$('#run-diff');
  await diff.waitForDisplayed({ timeout: 10_000 });
  const diffText = await diff.getText();
  if (!/seed|method/.test(diffText)) fail(`the differences name neither seed nor method: ${diffText.slice(0, 200)}`);
  await shot('3b-differences');
  await (await browser.$('button=Use a whole experiment instead')).click();

  // Run: open one run from the table.
  await (await browser.$('[data-screen="runs"]')).click();
  const firstRun = await browser.$('tr.run button.link');
  await firstRun.waitForDisplayed({ timeout: 10_000 });
  await firstRun.click();
  await (await browser.$('#run-status')).waitForDisplayed({ timeout: 10_000 });
  if ((await (await browser.$('#run-status')).getText()) !== 'done') fail('the opened run is not done');
  await (await browser.$('figure img')).waitForDisplayed({ timeout: 30_000 });
  await shot('4-run');

  // Run: tags and notes holding markup are saved and shown as text, in the run and the table.
  const PAYLOAD_TAG = '<img src=x onerror="window.__pwned=4">';
  const PAYLOAD_NOTES = '<script>window.__pwned=5</script> **bold** \\input{/etc/passwd} [l](javascript:window.__pwned=6)';
  await (await browser.$('input[aria-label="Tags"]')).setValue(PAYLOAD_TAG);
  await (await browser.$('textarea[aria-label="Notes"]')).setValue(PAYLOAD_NOTES);
  await (await browser.$('button=Save tags and notes')).click();
  await browser.waitUntil(async () => (await browser.$('body').getText()).includes('Saved tags and notes.'), {
    timeout: 10_000,
    timeoutMsg: 'the tags and notes were not saved',
  });
  if ((await (await browser.$('textarea[aria-label="Notes"]')).getValue()) !== PAYLOAD_NOTES) fail('the saved notes changed');
  await (await browser.$('[data-screen="runs"]')).click();
  await browser.waitUntil(async () => (await browser.$('body').getText()).includes(PAYLOAD_TAG), {
    timeout: 10_000,
    timeoutMsg: 'the markup tag is not shown as text in the runs table',
  });
  await browser.pause(500); // time for an injected image's onerror to have fired
  if ((await browser.execute(() => window.__pwned ?? null)) !== null) fail('a saved tag or note ran');
  if ((await browser.$$('img[src="x"]')).length > 0) fail('a saved tag became an element');
  if ((await browser.$$('a[href^="javascript:"]')).length > 0) fail('a saved note became a link');
  await shot('4b-markup-tags');

  // Report: export HTML to a path typed into the field.
  await (await browser.$('[data-screen="report"]')).click();
  const reportPath = join(work, 'reports', 'isr-quick.html');
  const pathField = await browser.$('#r-path');
  await pathField.waitForDisplayed({ timeout: 10_000 });
  await browser.waitUntil(async () => (await pathField.getValue()) !== '', { timeout: 10_000 });
  await pathField.setValue(reportPath);
  await (await browser.$('#export')).click();
  await (await browser.$('#written')).waitForDisplayed({ timeout: 30_000 });
  const html = readFileSync(reportPath, 'utf8');
  for (const needle of ['<svg', 'isr-quick', 'Summary', 'isr_mean']) {
    if (!html.includes(needle)) fail(`the exported report lacks ${needle}`);
  }
  if (/<script|https?:\/\/(?!www\.w3\.org)/.test(html)) fail('the report is not self-contained');
  await shot('5-report');

  // Steer: a quick DPA launch, then ask one of its trained policies from the run view.
  await (await browser.$('[data-screen="library"]')).click();
  const dpa = await browser.$('[data-experiment="shipped:dpa-quick.toml"]');
  await dpa.waitForDisplayed({ timeout: 10_000 });
  await dpa.click();
  const launchDpa = await browser.$('#launch');
  await browser.waitUntil(async () => (await launchDpa.isEnabled()) && /Launch 4 runs/.test(await launchDpa.getText()), {
    timeout: 20_000,
    timeoutMsg: 'the Launch button never offered the 4 DPA runs',
  });
  await launchDpa.click();
  await counts.waitForDisplayed({ timeout: 10_000 });
  await browser.waitUntil(
    async () => {
      const total = await counts.getAttribute('data-total');
      return (total === '4' || total === '22') && (await counts.getAttribute('data-done')) === total;
    },
    { timeout: 240_000, interval: 1000, timeoutMsg: `the DPA runs did not finish: ${await counts.getText()}` },
  );
  let opened = false;
  for (const row of await browser.$$('tr.run')) {
    if ((await row.getText()).includes('dpa-quick')) {
      await (await row.$('button.link')).click();
      opened = true;
      break;
    }
  }
  if (!opened) fail('no dpa-quick run in the Runs table');
  const steer = await browser.$('#steer');
  await steer.waitForDisplayed({ timeout: 10_000 });
  await (await browser.$('#steer input[aria-label="Question"]')).setValue('how many legs does a spider have ?');
  await (await browser.$('#steer button')).click();
  await browser.waitUntil(async () => (await browser.$$('#steer .answers li')).length === 4, {
    timeout: 60_000,
    timeoutMsg: 'the trained policy gave no answers',
  });
  await shot('6-steer');

  // Figures: a quick light-field launch; a run's view shows the study's figures, the
  // cameras in 3D first. The pose-file parameter offers a file chooser in the form.
  await (await browser.$('[data-screen="library"]')).click();
  const lightfield = await browser.$('[data-experiment="shipped:lightfield-quick.toml"]');
  await lightfield.waitForDisplayed({ timeout: 10_000 });
  await lightfield.click();
  const launchLf = await browser.$('#launch');
  await browser.waitUntil(async () => (await launchLf.isEnabled()) && /Launch 10 runs/.test(await launchLf.getText()), {
    timeout: 20_000,
    timeoutMsg: 'the Launch button never offered the 10 light-field runs',
  });
  if (!(await (await browser.$('button=Choose…')).isDisplayed())) fail('the pose_file parameter has no file chooser');
  await launchLf.click();
  await counts.waitForDisplayed({ timeout: 10_000 });
  await browser.waitUntil(
    async () => {
      const total = await counts.getAttribute('data-total');
      return (total === '10' || total === '32') && (await counts.getAttribute('data-done')) === total;
    },
    { timeout: 120_000, interval: 1000, timeoutMsg: `the light-field runs did not finish: ${await counts.getText()}` },
  );
  opened = false;
  for (const row of await browser.$$('tr.run')) {
    if ((await row.getText()).includes('lightfield-quick')) {
      await (await row.$('button.link')).click();
      opened = true;
      break;
    }
  }
  if (!opened) fail('no lightfield-quick run in the Runs table');
  const cameras = await browser.$('.figures img[alt="cameras.png"]');
  await cameras.waitForDisplayed({ timeout: 30_000 });
  if (!(await cameras.getAttribute('src')).startsWith('data:image/png;base64,')) fail('the camera figure is not a PNG data URL');
  const figures = await browser.$$('.figures img');
  if (figures.length < 4) fail(`expected the run's four figures, got ${figures.length}`);
  await (await browser.$('.figures')).scrollIntoView();
  await shot('7-figures');

  if (bench) {
    // Four runs training at once: launch the full ISR preset (225 runs) with 4 workers.
    await (await browser.$('[data-screen="library"]')).click();
    const full = await browser.$('[data-experiment="shipped:isr-environments.toml"]');
    await full.waitForDisplayed({ timeout: 10_000 });
    await full.click();
    const launchFull = await browser.$('#launch');
    await browser.waitUntil(async () => /Launch 225 runs/.test(await launchFull.getText()), { timeout: 20_000 });
    await launchFull.click();
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 500));
      peak = Math.max(peak, rssOfApp());
    }
    const lines = [
      `cold start to first screen: ${coldStartMs.toFixed(0)} ms`,
      `idle RSS: ${idleRss.toFixed(0)} MiB`,
      `RSS while four runs train: ${peak.toFixed(0)} MiB (peak over 10 s)`,
    ];
    console.log(lines.join('\n'));
    writeFileSync(join(out, 'bench.txt'), lines.join('\n') + '\n');
  }
  console.log('e2e: the path Library -> Runs -> Compare -> Run -> Report -> Steer -> Figures works');
} catch (e) {
  // Leave what the window showed, for whoever reads the failure.
  if (browser) {
    await browser.saveScreenshot(join(out, 'failure.png')).catch(() => {});
    const source = await browser.getPageSource().catch(() => '');
    writeFileSync(join(out, 'failure.html'), source);
    console.error(`e2e: failed; the window is in ${join(out, 'failure.png')} and failure.html`);
  }
  throw e;
} finally {
  if (browser) await browser.deleteSession().catch(() => {});
  driver.kill();
}
