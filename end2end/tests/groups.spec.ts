import { ADMIN, MEMBER, expect, hydrated, signIn, snap, test } from './fixtures';

test.describe.configure({ mode: 'serial' });

test('an admin manages groups: create, move a member after a confirmation, restrict tools, settings', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page, ADMIN);

  // The list, with the default group and its members.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Groups' }).click();
  await expect(page.getByRole('heading', { name: 'Permission groups' })).toBeVisible();
  await expect(page.getByRole('row', { name: /Default/ })).toContainText('Default');
  await snap(page, 'groups-list');

  // A duplicate name is refused inline; a new name creates the group and opens it.
  await page.getByLabel('New group').fill('default');
  await page.getByRole('button', { name: 'Create group' }).click();
  await expect(page.getByText('A group called “default” already exists.')).toBeVisible();
  await page.getByLabel('New group').fill('Support');
  await page.getByRole('button', { name: 'Create group' }).click();
  await expect(page.getByRole('heading', { name: 'Support' })).toBeVisible();
  await expect(page.getByText('No members')).toBeVisible();

  // Adding someone names the group they leave, and moves them only once confirmed.
  await page.getByLabel('Email').fill(MEMBER.email);
  await page.getByRole('button', { name: 'Add to group' }).click();
  await expect(page.getByText(`Move ${MEMBER.name} (${MEMBER.email}) from Default to Support?`)).toBeVisible();
  await snap(page, 'group-move-confirmation');
  await page.getByRole('button', { name: 'Move to Support' }).click();
  await expect(page.getByRole('cell', { name: MEMBER.email })).toBeVisible();
  await snap(page, 'group-members');

  // A group with members cannot be deleted.
  await page.locator('.tabs').getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByText('This group has 1 member. Move them to another group before deleting it.')).toBeVisible();
  await snap(page, 'group-settings');

  // Agent tools: servers are listed with their tools (or a way to read them).
  await page.locator('.tabs').getByRole('link', { name: 'Agent tools' }).click();
  await hydrated(page);
  const card = page.locator('section.card', { has: page.getByRole('heading', { name: 'Activity Demo' }) });
  await expect(card).toBeVisible();
  // Search narrows the list; "Select all" checks only what is shown.
  await card.getByPlaceholder('Search tools').fill('echo');
  await card.getByRole('button', { name: 'Select all', exact: true }).click();
  await card.getByPlaceholder('Search tools').fill('');
  await expect(card.getByRole('checkbox', { name: /^echo/ })).toBeChecked();
  await expect(card.getByRole('checkbox', { name: /^get-sum/ })).not.toBeChecked();
  await card.getByRole('button', { name: 'Save restrictions' }).click();
  await expect(page.getByText('Saved. The change applies')).toBeVisible();
  await expect(card.getByText(/Restricted since/)).toHaveCount(1);
  await snap(page, 'group-tools');

  // Users: filter by group, open a person, see their activity.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Group').selectOption({ label: 'Support' });
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByRole('link', { name: MEMBER.name })).toBeVisible();
  await snap(page, 'users-filtered');
  await page.getByRole('link', { name: MEMBER.name }).click();
  await expect(page.getByRole('heading', { name: MEMBER.name })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Activity' })).toBeVisible();
  await snap(page, 'user-detail');

  // The audit log has it all.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('Kind').selectOption('group');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByText('group.member_moved')).toBeVisible();
  await expect(page.getByText('group.created')).toBeVisible();
  await snap(page, 'audit-log');
});
