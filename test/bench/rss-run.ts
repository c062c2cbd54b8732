// Runs a command module (one that runs itself on import, as gateway/cli.ts and verifier/cli.ts do)
// with the given arguments, then prints the process's peak resident set size to stderr as
// `peak-rss-kib N`: what the benchmarks report as the memory an export or a verify needed.
const [mod, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], mod, ...args];
process.on("exit", () => process.stderr.write(`peak-rss-kib ${process.resourceUsage().maxRSS}\n`));
await import(new URL(mod, `file://${process.cwd()}/`).href);
