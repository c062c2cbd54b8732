// The scenarios: each is a schedule (recordings, faults) and what the gateway must end up
// reporting, checked per recording. The same seed gives the same schedule. To add one: write a
// Scenario below (run: what happens; expect: the failures, empty when the run is right) and add it
// to SCENARIOS; simulator/README.md says more.
import { clips, lossless, pick, uniform } from "./scenario-kit.js";
import type { Ctx, Scenario } from "./scenario-kit.js";
import { ATTACKS } from "./attacks.js";

export type { Scenario } from "./scenario-kit.js";

/** Clip length for a run: about four clips per device in the duration, at least 3 s. */
function clipMs(ctx: Ctx): number {
  return Math.max(3000, Math.floor(ctx.opts.durationMs / 6));
}

export const SCENARIOS: Record<string, Scenario> = {
  steady: {
    description: "a steady shift: every device records clips; all verified, linked, nothing lost",
    run: (ctx) => clips(ctx, ctx.opts.durationMs, clipMs(ctx), clipMs(ctx) / 2),
    expect: (ctx, recs, infos) => lossless(ctx, recs, infos),
  },

  flaky: {
    description: "a flaky network: connections dropped, delayed and partitioned at seeded times; still all verified, nothing lost",
    run: async (ctx) => {
      const end = Date.now() + ctx.opts.durationMs;
      const chaos = (async () => {
        while (Date.now() < end - 2000) {
          await ctx.sleep(500 + Math.floor(uniform(ctx.rand) * 1500));
          for (const p of ctx.proxies) {
            const x = uniform(ctx.rand);
            if (x < 0.15) p.dropAll();
            else if (x < 0.25) p.delayMs = 50 + Math.floor(uniform(ctx.rand) * 300);
            else if (x < 0.32) { p.partition(true); setTimeout(() => p.partition(false), 1000 + Math.floor(uniform(ctx.rand) * 3000)); }
            else if (x < 0.5) p.delayMs = 0;
          }
        }
      })();
      await clips(ctx, ctx.opts.durationMs, clipMs(ctx), clipMs(ctx) / 2);
      await chaos;
    },
    expect: (ctx, recs, infos) => lossless(ctx, recs, infos),
  },

  "gateway-restart": {
    description: "the gateway restarts mid-upload; devices reconnect and resume; all verified",
    needsEmbeddedGateway: true,
    run: async (ctx) => {
      const restart = (async () => {
        await ctx.sleep(ctx.opts.durationMs * 0.4);
        ctx.log("restarting the gateway");
        await ctx.restartGateway();
      })();
      await clips(ctx, ctx.opts.durationMs, clipMs(ctx), clipMs(ctx) / 2);
      await restart;
    },
    expect: (ctx, recs, infos) => lossless(ctx, recs, infos),
  },

  reboot: {
    description: "devices lose power mid-recording and boot again on the same flash: those recordings sealed as interrupted, all verified",
    run: async (ctx) => {
      await clips(ctx, ctx.opts.durationMs, clipMs(ctx), clipMs(ctx) / 2, async (i, k) => {
        // A seeded third of the devices lose power in the middle of their first clip.
        if (k !== 0 || (i !== 0 && pick(ctx, i, 1) > 0.34)) return;
        const d = ctx.devices[i];
        const info = await d.info();
        if (info.state === "recording") ctx.interrupted[i].add(info.recording);
        await d.powerCut();
        await ctx.sleep(500);
        await d.boot();
      });
    },
    expect: (ctx, recs, infos) => {
      const f = lossless(ctx, recs, infos);
      if (!ctx.interrupted.some((s) => s.size)) f.push("no device was cut mid-recording: the scenario tested nothing");
      return f;
    },
  },

  "flash-full": {
    description: "the SD card fills while the network is down: recording stops with an alarm, nothing overwritten; after docking all verified",
    setup: (spec) => ({ sdBytes: 8192 + 6 * (spec.chunk + 200) }),
    run: async (ctx) => {
      for (const p of ctx.proxies) p.partition(true);
      await clips(ctx, ctx.opts.durationMs * 0.7, ctx.opts.durationMs * 0.6, 500);
      for (const p of ctx.proxies) p.partition(false);
      await ctx.sleep(ctx.opts.durationMs * 0.3);
    },
    expect: (ctx, recs, infos, alarms) => {
      const f = lossless(ctx, recs, infos);
      for (const d of ctx.devices) if (!alarms.includes(`DEVICE_ALARM ${d.id}`)) f.push(`${d.id}: no DEVICE_ALARM raised at the gateway`);
      return f;
    },
  },

  clock: {
    description: "clocks skewed by hours, reset to 1970, or stepped mid-run: recordings still verified (time regressions are informational)",
    run: async (ctx) => {
      for (let i = 0; i < ctx.devices.length; i++) {
        const x = i % 3;
        if (x === 0) await ctx.devices[i].clock(2 * 3600 * 1000);
        else if (x === 1) await ctx.devices[i].clock(0, 60000); // a board without a kept clock
      }
      await clips(ctx, ctx.opts.durationMs, clipMs(ctx), clipMs(ctx) / 2, async (i) => {
        if (i % 3 === 2) await ctx.devices[i].clock(-3600 * 1000); // jumps back mid-recording
      });
    },
    expect: (ctx, recs, infos) => lossless(ctx, recs, infos),
  },

  offline: {
    description: "a whole shift without network, then docking: everything uploads at once, all verified",
    run: async (ctx) => {
      for (const p of ctx.proxies) p.partition(true);
      await clips(ctx, ctx.opts.durationMs, clipMs(ctx), clipMs(ctx) / 3);
      ctx.log("docking: network back for every device");
    },
    expect: (ctx, recs, infos) => lossless(ctx, recs, infos),
  },

  ...ATTACKS,
};
