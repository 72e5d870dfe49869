import { defineConfig } from '@playwright/test';

// Gatehouse runs as the real binary with its embedded Postgres (see scripts/e2e-server), and
// the browser is Debian's Chromium: Playwright never downloads one here.
const port = Number(process.env.GATEHOUSE_E2E_PORT ?? 3100);

export default defineConfig({
  testDir: './tests',
  outputDir: '../test-artifacts/playwright',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  // The activity spec adds a server of its own, so it runs after the specs that expect none;
  // the groups spec restricts its tools.
  projects: [
    { name: 'dashboard', testIgnore: /(activity|groups)\.spec\.ts/ },
    { name: 'activity', testMatch: /activity\.spec\.ts/, dependencies: ['dashboard'] },
    // Groups reads the server the activity spec made.
    { name: 'groups', testMatch: /groups\.spec\.ts/, dependencies: ['activity'] },
  ],
  webServer: {
    command: `../scripts/e2e-server ${port}`,
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 120_000,
    // SIGTERM, not the default SIGKILL: Gatehouse then stops its embedded Postgres (a cluster
    // started with pg_ctl lives in its own session and would outlive a killed server).
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
