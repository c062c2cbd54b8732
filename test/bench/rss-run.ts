// Runs a command module (one that runs itself on import, as gateway/cli.ts and verifier/cli.ts do)
// with the given arguments, then prints the process's peak resident set size to stderr as
// `peak-rss-kib N`: what the benchmarks report as the memory an export or a verify needed.
const [mod, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], mod, ...args];
process.on("exit", () => process.stderr.write(`peak-rss-kib ${process.resourceUsage().maxRSS}\n`));
// EVREC_MEMTRACE=1: where the memory is, every half second (heap, external buffers, resident).
if (process.env.EVREC_MEMTRACE) setInterval(() => {
  const m = process.memoryUsage();
  process.stderr.write(`mem rss ${(m.rss >> 20)} heap ${(m.heapUsed >> 20)} external ${(m.external >> 20)} arrayBuffers ${(m.arrayBuffers >> 20)} MiB\n`);
}, 500).unref();
await import(new URL(mod, `file://${process.cwd()}/`).href);
