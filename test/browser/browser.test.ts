/**
 * GNA in a real browser: test/browser/page.ts bundled with esbuild, served on 127.0.0.1, opened
 * in headless Chromium (SwiftShader's WebGPU adapter in CI) through playwright-core; the page
 * runs `gna` forward and backward on `webgpu` and on `cpu` and we compare the two.
 * With GNA_REQUIRE_WEBGPU=1 a missing Chromium or adapter fails the test instead of skipping.
 */
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { buildSync } from 'esbuild';
import { chromium } from 'playwright-core';
import type { BrowserCheck } from './page';

const CHROMIUM = process.env.GNA_CHROMIUM ?? '/usr/bin/chromium';
const REQUIRE_WEBGPU = process.env.GNA_REQUIRE_WEBGPU === '1';
const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader',
  '--no-sandbox', '--disable-background-networking', '--disable-component-update',
];

function bundlePage(): string {
  const result = buildSync({
    entryPoints: [path.join(__dirname, 'page.ts')], bundle: true, write: false, format: 'iife',
    platform: 'browser', logLevel: 'error',
  });
  return result.outputFiles[0].text;
}

/** Serves the page and its bundle on 127.0.0.1 only; resolves to the server and its URL. */
async function servePage(bundle: string): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(bundle);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><script src="/bundle.js"></script>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

async function runInChromium(): Promise<BrowserCheck> {
  const { server, url } = await servePage(bundlePage());
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gna-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
  });
  try {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
    const ready = await page.evaluate(() => typeof (globalThis as Record<string, unknown>).runGnaCheck);
    if (ready !== 'function') throw new Error(`the page failed to load: ${pageErrors.join('; ')}`);
    return await page.evaluate(() =>
      (globalThis as unknown as { runGnaCheck(): Promise<BrowserCheck> }).runGnaCheck());
  } finally {
    await context.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const missing = fs.existsSync(CHROMIUM) ? undefined
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set GNA_CHROMIUM)`;

if (missing !== undefined && !REQUIRE_WEBGPU) {
  // eslint-disable-next-line no-console
  console.warn(`skipping the browser test: ${missing}`);
}

(missing !== undefined && !REQUIRE_WEBGPU ? describe.skip : describe)('GNA in headless Chromium', () => {
  test('gna on webgpu matches the cpu backend in the page (forward, LSE, gradients)', async () => {
    if (missing !== undefined) throw new Error(missing);
    const check = await runInChromium();
    if (check.adapter === null) {
      const reason = 'Chromium offered no WebGPU adapter';
      if (REQUIRE_WEBGPU) throw new Error(reason);
      // eslint-disable-next-line no-console
      console.warn(`browser test did not run: ${reason}`);
      return;
    }
    expect(check.backend).toBe('webgpu');
    const names = Object.keys(check.errors);
    expect(names.length).toBe(10);
    for (const name of names) {
      const tolerance = /output|lse/.test(name) ? 1e-4 : 1e-3;
      if (!(check.errors[name] <= tolerance)) {
        throw new Error(`${name}: max abs difference ${check.errors[name]} > ${tolerance}`);
      }
    }
  });
});
