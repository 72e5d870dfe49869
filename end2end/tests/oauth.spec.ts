import { createHash, randomBytes } from 'node:crypto';
import { ADMIN, MEMBER, expect, hydrated, signIn, snap, test } from './fixtures';

const CALLBACK = 'http://127.0.0.1:45999/callback';

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

test('an app signs a person in: sign-in, consent, code; the person disconnects it later', async ({ page, request, baseURL }) => {
  const registered = await request.post('/oauth/register', {
    data: { client_name: 'Playwright agent', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' },
  });
  expect(registered.status()).toBe(201);
  const { client_id } = await registered.json();
  const { verifier, challenge } = pkce();
  // The app's own callback: answered here, as the app would.
  await page.route(`${CALLBACK}**`, (route) => route.fulfill({ contentType: 'text/plain', body: 'back in the app' }));

  const authorize = new URL('/oauth/authorize', baseURL);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id, redirect_uri: CALLBACK, state: 'st-1',
    code_challenge: challenge, code_challenge_method: 'S256',
  })) authorize.searchParams.set(k, v);
  await page.goto(authorize.toString());
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel('Email').fill(MEMBER.email);
  await page.getByLabel('Password', { exact: true }).fill(MEMBER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await expect(page).toHaveURL(/\/oauth\/consent\?request=/);
  await expect(page.getByRole('heading', { name: 'Allow Playwright agent to use Gatehouse as you?' })).toBeVisible();
  await expect(page.getByText('Every MCP server you may use through Gatehouse')).toBeVisible();
  await expect(page.getByText('registered itself')).toBeVisible();
  await snap(page, 'oauth-consent');
  await page.getByRole('button', { name: 'Allow' }).click();

  await expect(page).toHaveURL(new RegExp(`^${CALLBACK}\\?code=`));
  const back = new URL(page.url());
  expect(back.searchParams.get('state')).toBe('st-1');
  expect(back.searchParams.get('iss')).toBe(baseURL);
  const token = await request.post('/oauth/token', {
    form: { grant_type: 'authorization_code', client_id, code: back.searchParams.get('code')!, redirect_uri: CALLBACK, code_verifier: verifier },
  });
  expect(token.status()).toBe(200);
  expect((await token.json()).access_token).toMatch(/^gh_oat_/);

  await page.goto('/connections');
  const row = page.getByRole('row', { name: /Playwright agent/ });
  await expect(row).toBeVisible();
  await expect(row).toContainText('/mcp');
  await snap(page, 'oauth-connections');
  await hydrated(page);
  await row.locator('summary', { hasText: 'Disconnect' }).click();
  await row.getByRole('button', { name: 'Disconnect' }).click();
  await expect(page.getByText('Disconnected: its tokens stopped working')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'No connected clients' })).toBeVisible();
});

test('a person who denies is sent back to the app with access_denied', async ({ page, request, baseURL }) => {
  const registered = await request.post('/oauth/register', {
    data: { client_name: 'Declined agent', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' },
  });
  const { client_id } = await registered.json();
  await page.route(`${CALLBACK}**`, (route) => route.fulfill({ contentType: 'text/plain', body: 'back in the app' }));
  await signIn(page, MEMBER);
  const authorize = new URL('/oauth/authorize', baseURL);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id, redirect_uri: CALLBACK, code_challenge: pkce().challenge, code_challenge_method: 'S256',
  })) authorize.searchParams.set(k, v);
  await page.goto(authorize.toString());
  await page.getByRole('button', { name: 'Deny' }).click();
  await expect(page).toHaveURL(new RegExp(`^${CALLBACK}\\?error=access_denied`));
});

test('an unknown app or a foreign redirect address gets an error page, not a redirect', async ({ page }) => {
  await signIn(page, MEMBER);
  await page.goto('/oauth/authorize?response_type=code&client_id=gh_oci_nobody&redirect_uri=https%3A%2F%2Fevil.example.com%2F');
  await expect(page.getByRole('heading', { name: 'This sign-in cannot go on' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('not registered');
  await expect(page).toHaveURL(/\/oauth\/authorize/);
  await snap(page, 'oauth-error');
});

test('an admin registers a client by hand, sees its secret once, and deletes it', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/oauth-clients');
  await hydrated(page);
  await page.getByLabel('Name').fill('Support agent');
  await page.getByLabel('Redirect URIs, one per line').fill('http://app.example.com/callback');
  await page.getByRole('button', { name: 'Register client' }).click();
  await expect(page.locator('#client-redirects-error')).toContainText('use https');

  await page.getByLabel('Redirect URIs, one per line').fill('https://agent.example.com/oauth/callback');
  await page.getByLabel('Confidential').check();
  await page.getByRole('button', { name: 'Register client' }).click();
  await expect(page.getByRole('heading', { name: 'Client registered' })).toBeVisible();
  await expect(page.getByText(/gh_ocs_/)).toBeVisible();
  const row = page.getByRole('row', { name: /Support agent/ });
  await expect(row).toContainText('Registered by an admin');
  await snap(page, 'oauth-clients');

  await page.reload();
  await expect(page.getByText(/gh_ocs_/)).toHaveCount(0);
  await hydrated(page);
  await row.locator('summary', { hasText: 'Delete' }).click();
  await row.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('The client was deleted')).toBeVisible();
  await expect(page.getByRole('row', { name: /Support agent/ })).toHaveCount(0);
});
