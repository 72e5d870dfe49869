import { expect, Page, test as base } from '@playwright/test';
import * as path from 'node:path';

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
