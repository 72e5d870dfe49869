import { ADMIN, EVERYTHING, callTool, expect, hydrated, signIn, snap, test } from './fixtures';

test.describe.configure({ mode: 'serial' });

test('an admin creates a server through the wizard and manages it end to end', async ({ page, baseURL }) => {
  test.setTimeout(120_000);
  await signIn(page, ADMIN);

  // The list starts empty, with the way out.
  await page.getByRole('link', { name: 'Servers' }).click();
  await expect(page.getByRole('heading', { name: 'No servers yet' })).toBeVisible();
  await snap(page, 'servers-empty');

  // Step 1: basic info and a command source.
  await page.getByRole('link', { name: 'Create New Server' }).first().click();
  await hydrated(page);
  await page.getByLabel('Server name').fill('Everything Demo');
  await page.getByLabel('Description').fill('The reference MCP server, over stdio.');
  await page.getByLabel(/^Command —/).check();
  await page.getByLabel('Command line').fill(`${EVERYTHING} stdio`);
  await snap(page, 'wizard-step-1');
  await page.getByRole('button', { name: 'Next: authentication' }).click();

  // Step 2: a reserved name is refused inline, then fixed.
  await expect(page.getByText('fixed once the server is created')).toBeVisible();
  await page.getByLabel('Environment variables', { exact: true }).fill('GUMSTACK_TOKEN=nope');
  await page.getByRole('button', { name: 'Next: review' }).click();
  await expect(page.getByText('Line 1: Names starting with GUMSTACK_ are reserved by the platform.')).toBeVisible();
  await page.getByLabel('Environment variables', { exact: true }).fill('DEMO_REGION=eu-west-1');
  await snap(page, 'wizard-step-2');
  await page.getByRole('button', { name: 'Next: review' }).click();

  // Step 3: review with edit links, then create.
  await expect(page.getByRole('heading', { name: 'Basic info' })).toBeVisible();
  await expect(page.getByText('DEMO_REGION')).toBeVisible();
  await snap(page, 'wizard-review');
  await page.getByRole('button', { name: 'Create server' }).click();

  await expect(page).toHaveURL(/\/servers\/everything-demo\/overview/);
  await expect(page.getByText('The server was created.')).toBeVisible();
  await expect(page.getByRole('heading', { name: /Everything Demo/ })).toBeVisible();
  const mcpUrl = `${baseURL}/mcp/everything-demo`;
  await expect(page.locator('.url-line code')).toHaveText(mcpUrl);
  await snap(page, 'server-overview');

  // The list shows it.
  await page.getByRole('link', { name: 'Internal MCPs' }).click();
  await expect(page.getByRole('link', { name: 'Everything Demo' })).toBeVisible();
  await snap(page, 'servers-list');

  // Tools: listed by the live process, with the groups that may call them.
  await page.goto('/servers/everything-demo/tools');
  await page.getByRole('button', { name: 'Refresh from the server' }).click();
  await expect(page.getByRole('heading', { name: 'echo', exact: true })).toBeVisible({ timeout: 30_000 });
  await snap(page, 'server-tools');

  // Settings: an env var is masked; a reserved name is refused inline.
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('cell', { name: /DEMO_REGION/ })).toBeVisible();
  await expect(page.getByText('••••••••')).toBeVisible();
  await page.getByLabel('Name', { exact: true }).fill('GATEHOUSE_SECRET');
  await page.getByLabel('Value', { exact: true }).fill('x');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByText('Names starting with GATEHOUSE_ are reserved by the platform.')).toBeVisible();
  await page.getByLabel('Name', { exact: true }).fill('API_KEY');
  await page.getByLabel('Value', { exact: true }).fill('sk-test-123');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByRole('cell', { name: /API_KEY/ })).toBeVisible();
  await expect(page.getByText('sk-test-123')).toBeHidden();
  await page.getByRole('row', { name: /API_KEY/ }).getByRole('link', { name: 'Reveal' }).click();
  await expect(page.getByText('sk-test-123')).toBeVisible();
  await snap(page, 'server-settings');

  // A token for calls, created in the dashboard and shown once.
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByLabel('Name').fill('e2e');
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.locator('.minted code').textContent())!.trim();
  expect(token).toMatch(/^gh_pat_/);
  await snap(page, 'tokens');

  // A real client calls through the gateway...
  const first = callTool(mcpUrl, token, 'echo', { message: 'hello from e2e' });
  expect(first.calls[0].content[0].text).toContain('hello from e2e');

  // ...fails clearly while the server is disabled...
  await page.goto('/servers/everything-demo/settings');
  await page.locator('summary', { hasText: 'Disable' }).click();
  await page.getByRole('button', { name: 'Disable server' }).click();
  await expect(page.getByText('This server is disabled')).toBeVisible();
  const disabled = callTool(mcpUrl, token, 'echo', { message: 'x' });
  expect(disabled.error ?? JSON.stringify(disabled)).toContain('disabled by your admin');
  await snap(page, 'server-disabled');

  // ...and works again once enabled.
  await page.getByRole('button', { name: 'Enable server' }).click();
  await expect(page.getByText('This server is disabled')).toBeHidden();
  const again = callTool(mcpUrl, token, 'echo', { message: 'back again' });
  expect(again.calls[0].content[0].text).toContain('back again');

  // The calls show on the Activity tab, and open to their input.
  await page.locator('.tabs').getByRole('link', { name: 'Activity' }).click();
  await expect(page.locator('.call-row').first()).toBeVisible();
  await page.locator('.call-row').first().click();
  await expect(page.getByText('back again').first()).toBeVisible();
  await snap(page, 'server-activity');

  await page.getByRole('link', { name: 'Deployments' }).click();
  await expect(page.getByText('Server created')).toBeVisible();
  await snap(page, 'server-deployments');

  // Delete asks for the name.
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.locator('summary', { hasText: 'Delete' }).click();
  await page.getByLabel('Type Everything Demo to confirm').fill('wrong');
  await page.getByRole('button', { name: 'Delete this server' }).click();
  await expect(page.getByText('Type the server\'s name, Everything Demo, to confirm.')).toBeVisible();
  await page.getByLabel('Type Everything Demo to confirm').fill('Everything Demo');
  await page.getByRole('button', { name: 'Delete this server' }).click();
  await expect(page).toHaveURL(/\/servers\?deleted=/);
  await expect(page.getByText('Everything Demo was deleted.')).toBeVisible();
  const gone = callTool(mcpUrl, token, 'echo', { message: 'x' });
  expect(gone.error).toBeTruthy();
});
