import * as fs from 'node:fs';
import { ADMIN, EVERYTHING, MEMBER, callTools, expect, signIn, snap, test } from './fixtures';

// Runs after the other specs (see playwright.config.ts): it adds a server of its own.
test.describe.configure({ mode: 'serial' });

test('an admin reads activity: cards, charts, a row, filters, pages and the CSV', async ({ page, baseURL }) => {
  test.setTimeout(180_000);
  await signIn(page, ADMIN);

  // A server made through the JSON API with the dashboard session, and a token for calls.
  const created = await page.request.post('/api/v1/servers', {
    data: {
      name: 'Activity Demo',
      source: { kind: 'command', command: EVERYTHING, args: ['stdio'], transport: 'stdio', path: '/mcp' },
    },
  });
  expect(created.status(), await created.text()).toBe(201);
  const refreshed = await page.request.post('/api/v1/servers/activity-demo/tools/refresh');
  expect(refreshed.status(), await refreshed.text()).toBe(200);
  await page.goto('/tokens');
  await page.getByLabel('Name').fill('activity');
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.locator('.minted code').textContent())!.trim();

  // Twelve good calls and one that fails, from a real client.
  const calls: [string, object][] = [];
  for (let i = 1; i <= 12; i++) calls.push(['echo', { message: `call number ${i}` }]);
  calls.push(['get-sum', { a: 'not a number', b: 1 }]);
  const out = callTools(`${baseURL}/mcp/activity-demo`, token, calls);
  expect(out.calls?.length, JSON.stringify(out)).toBe(13);

  // The global page, narrowed to this server with the filter form (the URL carries it).
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Activity' }).click();
  await expect(page.getByRole('heading', { name: 'Activity', exact: true })).toBeVisible();
  await expect(page.locator('figure.chart svg').first()).toBeVisible();
  await page.getByRole('combobox', { name: 'Server', exact: true }).selectOption({ label: 'Activity Demo' });
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/server=activity-demo/);
  await expect(page.getByText('1 filter active')).toBeVisible();
  const totals = page.getByRole('region', { name: /^Totals/ });
  await expect(totals.locator('.stat', { hasText: 'Total calls' })).toContainText('13');
  await expect(totals.locator('.stat', { hasText: 'Error rate' })).toContainText('7.7 %');
  await expect(totals.locator('.stat', { hasText: 'P95 latency' })).toContainText('ms');
  await expect(page.getByText('Page 1 of 2 · 13 in all')).toBeVisible();
  await snap(page, 'activity-global');

  // The newest call is the failed one: it opens to its input and a red error box.
  await page.locator('.call-row').first().click();
  await expect(page.locator('.call[open] .call-error')).toBeVisible();
  await expect(page.locator('.call[open] .json-panel pre').first()).toContainText('not a number');
  await snap(page, 'activity-row-error');

  // A status filter on top: the badge counts both.
  await page.getByRole('combobox', { name: 'Status', exact: true }).selectOption('error');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/status=error/);
  await expect(page.getByText('2 filters active')).toBeVisible();
  await expect(page.getByText('Page 1 of 1 · 1 in all')).toBeVisible();
  await snap(page, 'activity-filtered');

  // Every status again, and the second page.
  await page.getByRole('combobox', { name: 'Status', exact: true }).selectOption('');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('link', { name: 'Next' }).click();
  await expect(page.getByText('Page 2 of 2 · 13 in all')).toBeVisible();
  await expect(page.locator('.call-row')).toHaveCount(3);

  // A range that ends before it starts is explained, not a failure.
  await page.goto('/activity?range=custom&from=2026-11-09T00:00&to=2026-11-01T00:00');
  await expect(page.getByText('The end of the range must be after its start.')).toBeVisible();
  await snap(page, 'activity-bad-range');

  // The CSV is the current view.
  await page.goto('/activity?status=success&server=activity-demo');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Export CSV' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^activity-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = fs.readFileSync((await download.path())!, 'utf8').trim().split('\n');
  expect(csv[0]).toBe('status,time,server,tool,user,latency_ms,latency_percentile,error');
  expect(csv).toHaveLength(13);
  expect(csv.slice(1).every((line) => line.startsWith('success,') && line.includes(',Activity Demo,echo,admin@e2e.test,'))).toBe(true);

  // The server's tab: its own calls, a tool filter, the latency distribution.
  await page.goto('/servers/activity-demo/activity?tool=echo');
  await expect(page.getByText('Page 2 of 2 · 12 in all').or(page.getByText('Page 1 of 2 · 12 in all'))).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Latency distribution' })).toBeVisible();
  await snap(page, 'server-activity-tab');
});

test('a member sees only their own activity', async ({ page }) => {
  await signIn(page, MEMBER);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Activity' }).click();
  await expect(page.getByRole('heading', { name: 'My activity' })).toBeVisible();
  await expect(page.getByText('No calls yet')).toBeVisible();
  await expect(page.getByRole('combobox', { name: 'Server', exact: true })).toBeVisible();
  await expect(page.getByRole('searchbox', { name: 'User', exact: true })).toHaveCount(0);
  await snap(page, 'activity-member');
});
