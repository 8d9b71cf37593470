#!/usr/bin/env node
// A real browser (headless Chromium or Firefox ESR) as an interop peer.
//
//   node browser_peer.mjs offer|answer --browser chromium|firefox [--scenario S] [--count N]
//                         [--mdns on|off] [--timeout SECONDS] [--rounds N]
//                         [--ice-server URL --username U --credential C] [--relay-only] [--expect-relay]
//
// --ice-server (repeatable) fills the page's `iceServers`, --relay-only sets
// `iceTransportPolicy: 'relay'`, and --expect-relay makes the run fail unless
// getStats' selected candidate pair has a local candidate of type `relay`.
//
// `--scenario perfect-negotiation` (web/perfect.js) signals both ways all along, one JSON line
// per message: `offer` plays the impolite peer and leads `--rounds` rounds (default 5),
// `answer` the polite one.
//
// Serves peer.html/peer.js on 127.0.0.1 and opens it in the browser; the page
// runs the RTCPeerConnection. This process relays the JSON signaling lines
// between its stdin/stdout and the page. stdout carries only those lines; every
// log goes to stderr. See interop/README.md for the protocol.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCENARIOS = ['reliable', 'unordered', 'negotiated', 'close', 'perfect-negotiation'];

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: browser_peer.mjs offer|answer --browser chromium|firefox ` +
      `[--scenario ${SCENARIOS.join('|')}] [--count N] [--mdns on|off] [--timeout S] [--rounds N]\n` +
      `       [--ice-server URL --username U --credential C] [--relay-only] [--expect-relay]\n`,
  );
  process.exit(64);
}

function parseArgs(argv) {
  const o = { browser: null, scenario: 'reliable', count: 100, mdns: 'on', timeout: 60, role: null, minUnordered: 0.5, rounds: 5 };
  Object.assign(o, { iceServers: [], username: undefined, credential: undefined, relayOnly: false, expectRelay: false });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === 'offer' || a === 'answer') o.role = a === 'offer' ? 'offerer' : 'answerer';
    else if (a === '--role') o.role = val();
    else if (a === '--browser') o.browser = val();
    else if (a === '--scenario') o.scenario = val();
    else if (a === '--count') o.count = Number(val());
    else if (a === '--mdns') o.mdns = val();
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--min-unordered') o.minUnordered = Number(val());
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--ice-server') o.iceServers.push(val());
    else if (a === '--username') o.username = val();
    else if (a === '--credential') o.credential = val();
    else if (a === '--relay-only') o.relayOnly = true;
    else if (a === '--expect-relay') o.expectRelay = true;
    else usage(`unknown argument ${a}`);
  }
  if (!['offerer', 'answerer'].includes(o.role)) usage('role must be offer or answer');
  if (!['chromium', 'firefox'].includes(o.browser)) usage('--browser must be chromium or firefox');
  if (!SCENARIOS.includes(o.scenario)) usage(`unknown scenario ${o.scenario}`);
  if (!['on', 'off'].includes(o.mdns)) usage('--mdns must be on or off');
  if (!Number.isInteger(o.count) || o.count < 1) usage('--count must be a positive integer');
  if (!(o.timeout > 0)) usage('--timeout must be positive');
  if (!Number.isInteger(o.rounds) || o.rounds < 1) usage('--rounds must be a positive integer');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const tag = `[${opts.browser} ${opts.role === 'offerer' ? 'offer' : 'answer'} ${opts.scenario}]`;
const t0 = Date.now();
const log = (msg) => process.stderr.write(`${tag} +${((Date.now() - t0) / 1000).toFixed(2)}s ${msg}\n`);

// ------------------------------------------------------------ stdin lines --
// readline emits 'line' whether or not anyone listens: queue every line so none
// is lost between the page's requests.
const lines = [];
const lineWaiters = [];
let stdinClosed = false;
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (l) => {
  if (!l.trim()) return;
  const w = lineWaiters.shift();
  if (w) w(l);
  else lines.push(l);
});
rl.on('close', () => {
  stdinClosed = true;
  for (const w of lineWaiters.splice(0)) w(null);
});
function nextLine() {
  if (lines.length) return Promise.resolve(lines.shift());
  if (stdinClosed) return Promise.resolve(null);
  return new Promise((r) => lineWaiters.push(r));
}

// ------------------------------------------------------------------ finish --
let browser = null;
let finishing = false;
async function finish(code, message) {
  if (finishing) return;
  finishing = true;
  if (code === 0) log(`PASS ${message}`);
  else log(`FAIL ${message}`);
  const killer = setTimeout(() => process.exit(code), 5000);
  try {
    if (browser) await browser.close();
  } catch (e) {
    log(`closing the browser: ${e.message}`);
  }
  clearTimeout(killer);
  process.exit(code);
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => finish(128 + os.constants.signals[sig], `got ${sig}`));
const timer = setTimeout(() => finish(3, `timed out after ${opts.timeout} s`), opts.timeout * 1000);
timer.unref();

// ------------------------------------------------------------------ server --
const pageConfig = {
  role: opts.role,
  scenario: opts.scenario,
  count: opts.count,
  rounds: opts.rounds,
  minUnordered: opts.minUnordered,
  openWaitMs: Math.min(20000, opts.timeout * 1000),
  echoWaitMs: opts.timeout * 1000,
  closeWaitMs: Math.min(30000, opts.timeout * 1000),
  quietMs: 2000,
  // RTCConfiguration of the page's connection (--ice-server, --relay-only).
  rtcConfig: {
    iceServers: opts.iceServers.map((url) => ({ urls: url, username: opts.username, credential: opts.credential })),
    iceTransportPolicy: opts.relayOnly ? 'relay' : 'all',
  },
  expectRelay: opts.expectRelay,
};
const files = {
  '/': ['peer.html', 'text/html'],
  '/peer.js': ['peer.js', 'text/javascript'],
  '/perfect.js': ['perfect.js', 'text/javascript'],
};
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 4 * 1024 * 1024) req.destroy(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
// What a signaling line is, for the log: `offer`, `answer`, or (perfect-negotiation) its one key.
function describeLine(msg) {
  if (msg.type) return msg.type;
  if (msg.description) return `description ${msg.description.type}`;
  if ('candidate' in msg) return msg.candidate ? `candidate ${msg.candidate.candidate.split(' ').slice(4, 8).join(' ')}` : 'end-of-candidates';
  return Object.keys(msg).join(',') || 'empty';
}
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method === 'GET' && files[url.pathname]) {
      const [name, type] = files[url.pathname];
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(fs.readFileSync(path.join(HERE, 'web', name)));
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else if (req.method === 'GET' && url.pathname === '/config') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(pageConfig));
    } else if (req.method === 'GET' && url.pathname === '/in') {
      const line = await nextLine();
      if (line === null) {
        res.writeHead(410).end();
        finish(2, 'stdin closed before the expected signaling line arrived');
        return;
      }
      try {
        JSON.parse(line);
      } catch {
        res.writeHead(400).end();
        finish(2, `stdin line is not JSON: ${line.slice(0, 80)}`);
        return;
      }
      log(`read ${describeLine(JSON.parse(line))} line (${line.length} B)`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(line);
    } else if (req.method === 'POST' && url.pathname === '/out') {
      const body = JSON.parse(await readBody(req));
      process.stdout.write(JSON.stringify(body) + '\n');
      const sdp = body.sdp || (body.description && body.description.sdp) || '';
      const cands = sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
      log(`wrote ${describeLine(body)} line with ${cands.length} candidate(s): ${cands.map((c) => c.split(' ').slice(4, 8).join(' ')).join(' | ')}`);
      res.writeHead(204).end();
    } else if (req.method === 'POST' && url.pathname === '/log') {
      log(await readBody(req));
      res.writeHead(204).end();
    } else if (req.method === 'POST' && url.pathname === '/done') {
      const { code, message } = JSON.parse(await readBody(req));
      res.writeHead(204).end();
      finish(code === 0 ? 0 : 1, message);
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    log(`http ${req.url}: ${e.message}`);
    if (!res.headersSent) res.writeHead(500).end();
  }
});
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

// ----------------------------------------------------------------- browser --
try {
  browser = await launchBrowser(opts.browser, opts.mdns, {
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
  });
  log(`browser up (mdns ${opts.mdns})`);
  const page = await browser.newPage();
  page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => finish(1, `page error: ${e.message}`));
  await page.goto(pageUrl);
} catch (e) {
  await finish(4, `could not start ${opts.browser}: ${e.message.split('\n')[0]}`);
}
