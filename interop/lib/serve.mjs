// What the browser checks against `rtcpeer serve` share (serve_check.mjs, media_check.mjs,
// simulcast_check.mjs): the log, the overall timeout and the `PASS …` / `FAIL <why>` last line,
// starting the server and reading its address, and starting the browser on a page.
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../peers/launch.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A failed check: its message becomes the `FAIL` line. */
export class CheckError extends Error {}
export const fail = (msg) => {
  throw new CheckError(msg);
};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One check run: logs with `tag` and the seconds since it began, fails with exit 3 after
 * `timeout` seconds (or on SIGTERM/SIGINT/SIGHUP), and on finishing runs the cleanups given to
 * `atFinish` (last registered first) before printing `PASS …` or `FAIL …` as the last line.
 */
export function startCheck(tag, timeout) {
  const t0 = Date.now();
  const log = (msg) => process.stderr.write(`${tag} +${((Date.now() - t0) / 1000).toFixed(2)}s ${msg}\n`);
  const cleanups = [];
  let step = 'starting';
  let finishing = false;
  const check = {
    t0,
    log,
    isFinishing: () => finishing,
    atFinish: (cleanup) => cleanups.push(cleanup),
    /** Logs `what` and names it in a timeout's message. */
    doing(what) {
      step = what;
      log(what);
    },
    async finish(code, message) {
      if (finishing) return;
      finishing = true;
      const last = () => log(code === 0 ? `PASS ${message}` : `FAIL ${message}`);
      // A cleanup that hangs does not keep the verdict from being printed.
      setTimeout(() => {
        last();
        process.exit(code);
      }, 5000);
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (e) {
          log(`cleaning up: ${e.message}`);
        }
      }
      // Last, so that it is the last stderr line.
      last();
      process.exit(code);
    },
    /** Runs `body` and finishes with its summary, or with the reason it threw. */
    async run(body) {
      try {
        await check.finish(0, await body());
      } catch (e) {
        await check.finish(1, e instanceof CheckError ? e.message : `${step}: ${e.message.split('\n')[0]}`);
      }
    },
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
    process.on(sig, () => check.finish(128 + os.constants.signals[sig], `got ${sig}`));
  setTimeout(() => check.finish(3, `timed out after ${timeout} s while ${step}`), timeout * 1000).unref();
  return check;
}

/** Runs `program args` to completion; its stdout, or a failed check. */
export function run(program, args) {
  const r = spawnSync(program, args, { encoding: 'utf8' });
  if (r.error) fail(`${program}: ${r.error.message}`);
  if (r.status !== 0) fail(`${program} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  return r.stdout;
}

/**
 * Starts `$RTCPEER_BIN serve --listen 127.0.0.1:0 extra…` (killed when the check finishes);
 * resolves to `{ base, lines }`: its `http://ADDR` and the output lines it has printed so far.
 */
export function startServer(check, extra = []) {
  const bin = process.env.RTCPEER_BIN || path.join(REPO, 'target', 'release', 'rtcpeer');
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info,sctp_proto=off', NO_COLOR: '1' };
  const args = ['serve', '--listen', '127.0.0.1:0', ...extra];
  check.log(`starting ${bin} ${args.join(' ')}`);
  const server = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  check.atFinish(() => {
    if (server.exitCode === null) server.kill('SIGTERM');
  });
  const lines = [];
  return new Promise((resolve, reject) => {
    let found = false;
    const watch = (stream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop();
        for (const line of parts) {
          check.log(`[rtcpeer] ${line}`);
          lines.push(line);
          const m = !found && /listening on (http:\/\/\S+)/.exec(line);
          if (m) {
            found = true;
            resolve({ base: m[1].replace(/\/$/, ''), lines });
          }
        }
      });
    };
    watch(server.stdout);
    watch(server.stderr);
    server.on('error', (e) => reject(new CheckError(`could not start ${bin}: ${e.message}`)));
    server.on('exit', (code, sig) => {
      if (!found) reject(new CheckError(`rtcpeer serve exited (${sig || code}) before printing its address`));
      else if (!check.isFinishing()) check.finish(1, `rtcpeer serve exited (${sig || code}) during the check`);
    });
  });
}

/** The Chromium switches and Firefox prefs that give a page a fake camera and microphone without asking. */
export const FAKE_MEDIA = {
  firefoxPrefs: { 'media.navigator.streams.fake': true, 'media.navigator.permission.disabled': true },
  chromiumArgs: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
};

/**
 * Starts `browserName` (closed when the check finishes) and opens a page whose console is logged
 * and whose uncaught errors fail the check; resolves to the page.
 */
export async function openPage(check, browserName, mdns, { firefoxPrefs, chromiumArgs } = {}) {
  check.doing(`starting ${browserName}`);
  const browser = await launchBrowser(browserName, mdns, firefoxPrefs, chromiumArgs);
  check.atFinish(() => browser.close());
  const page = await browser.newPage();
  page.on('console', (msg) => check.log(`console.${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (e) => check.finish(1, `page error: ${e.message}`));
  return page;
}

/** Waits up to 15 s for the page's connection `window.m.pc` to be connected. */
export async function waitConnected(check, page) {
  check.doing('waiting for connected');
  const until = Date.now() + 15000;
  for (;;) {
    const state = await page.evaluate(() => window.m.pc.connectionState);
    if (state === 'connected') return;
    if (state === 'failed' || state === 'closed') fail(`the connection is ${state}`);
    if (Date.now() > until) fail(`the connection is ${state} after 15 s`);
    await sleep(100);
  }
}
