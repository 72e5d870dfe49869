// Shared by the probes: argument parsing and printing the outcome (or the error) as JSON.
export function parseArgs(argv) {
  const out = { calls: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i].replace(/^--/, ''), argv[i + 1]];
    if (key === 'call') {
      const at = value.indexOf('=');
      out.calls.push(at < 0 ? [value, {}] : [value.slice(0, at), JSON.parse(value.slice(at + 1))]);
    } else {
      out[key] = value;
    }
  }
  return out;
}

export async function report(run) {
  try {
    console.log(JSON.stringify(await run()));
    process.exit(0);
  } catch (err) {
    console.log(JSON.stringify({ error: `${err?.name ?? 'Error'}: ${err?.message ?? err}` }));
    process.exit(1);
  }
}
