import { expect, Page, test as base } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const CLIENTS = path.resolve(__dirname, '../../tests/clients');
/** The reference MCP server, run over stdio by the servers the tests create. */
export const EVERYTHING = path.join(CLIENTS, 'node_modules/.bin/mcp-server-everything');

/**
 * Calls tools through Gatehouse with the TypeScript SDK client, as a real user would, in one
 * session: `calls` are `[tool, arguments]` pairs. Returns what the probe printed.
 */
export function callTools(url: string, token: string, calls: [string, object][]) {
  const args = ['--url', url, '--token', token];
  for (const [tool, toolArgs] of calls) args.push('--call', `${tool}=${JSON.stringify(toolArgs)}`);
  let out: string;
  try {
    out = execFileSync('node', [path.join(CLIENTS, 'node/probe-sdk1.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 });
  } catch (failed: any) {
    // The probe exits non-zero when the client fails; what it printed says why.
    out = String(failed.stdout ?? '');
  }
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** One tool call (see [`callTools`]). */
export function callTool(url: string, token: string, tool: string, args: object) {
  return callTools(url, token, [[tool, args]]);
}

// People scripts/e2e-server creates before Gatehouse starts.
export const ADMIN = { email: 'admin@e2e.test', password: 'e2e admin password', name: 'Avery Admin' };
export const MEMBER = { email: 'member@e2e.test', password: 'e2e member password', name: 'Morgan Member' };

const SCREENSHOTS = path.resolve(__dirname, '../../test-artifacts/screenshots');

/** Saves a full-page screenshot under test-artifacts/screenshots/<name>.png. */
export async function snap(page: Page, name: string) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the browser bundle has hydrated the page (controls that need it appear). */
export async function hydrated(page: Page) {
  await page.waitForFunction(() => (window as any).__gatehouse_hydrated === true);
}

export async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
}

export const test = base;
export { expect };
