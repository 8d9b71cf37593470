// How the interop suite starts the browsers: one place for their flags and prefs
// (see interop/README.md and ../shared/interop-notes.md for why each is there).

import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Headless Chromium through playwright-core; `mdns` is 'on' (hide host addresses) or 'off'; `extraArgs` are added. */
export async function launchChromium(mdns, extraArgs = []) {
  const { chromium } = await import('playwright-core');
  const args = ['--allow-loopback-in-peer-connection', '--disable-quic', '--no-first-run', '--disable-sync', ...extraArgs];
  if (mdns === 'off') args.push('--disable-features=WebRtcHideLocalIpsWithMdns');
  // Chromium honours only the last --disable-features: the wrapper merges
  // Playwright's list with ours before starting the real binary.
  return chromium.launch({
    executablePath: path.join(HERE, 'chromium-wrapper.sh'),
    headless: true,
    args,
    chromiumSandbox: false,
    env: { ...process.env, CHROMIUM_BIN: process.env.CHROMIUM_BIN || '/usr/lib/chromium/chromium' },
  });
}

/** Headless Firefox ESR through puppeteer-core; `mdns` as for Chromium; `extraPrefs` are added. */
export async function launchFirefox(mdns, extraPrefs = {}) {
  const puppeteer = (await import('puppeteer-core')).default;
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_BIN || '/usr/bin/firefox-esr',
    headless: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    extraPrefsFirefox: {
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': mdns === 'on',
      'network.dns.disableIPv6': true,
      ...extraPrefs,
    },
  });
}

/** The browser named `name` ('chromium' or 'firefox'), with extra Firefox prefs or Chromium switches. */
export function launchBrowser(name, mdns, firefoxPrefs, chromiumArgs) {
  return name === 'chromium' ? launchChromium(mdns, chromiumArgs) : launchFirefox(mdns, firefoxPrefs);
}
