/**
 * Headless Chromium for the UI tests: Debian's `chromium` package (installed by .ci/run), driven by
 * playwright-core, with a fresh profile per launch. Never a downloaded browser.
 *
 * Every page opened through {@link TestBrowser.page} records console errors, failed requests and
 * page errors (a CSP violation is a console error), so a test can assert there were none.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = process.env.FNRUN_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Where screenshots go: `test-artifacts/ui/` at the repository root (git-ignored). */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url));

export interface TestBrowser {
  /** A new page; `problems` collects its console errors and page errors. */
  page(opts?: { colorScheme?: 'light' | 'dark' }): Promise<{ page: Page; problems: string[] }>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium; .ci/run does) or set FNRUN_TEST_CHROMIUM`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'fnrun-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    async page(opts = {}) {
      const page = await context.newPage();
      await page.emulateMedia({ colorScheme: opts.colorScheme ?? 'light' });
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      return { page, problems };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as `test-artifacts/ui/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
