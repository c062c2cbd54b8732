// The custody report of one recording (docs/EVIDENCE.md): every link, access, approval and
// export, with account, time and reason, as JSON for tools and as a PDF for people. The same
// rows feed the CLI's table and CSV. pdf-lib draws the PDF; it embeds a CJK font when the
// machine has one (Debian's fonts-droid-fallback), since names and reasons are often Chinese.
import { existsSync, readFileSync } from "node:fs";
import { PDFDocument, StandardFonts, rgb } from "pdf-lib";
import type { PDFFont } from "pdf-lib";
import type { BundleCustodyEvent } from "../../protocol/bundle.js";
import { csvCell } from "../../protocol/csv.js";
import { isoLocal } from "../../protocol/time.js";

export interface CustodyRow {
  at: string;
  atMs: number;
  account: string;
  action: string;
  reason: string;
  detail: string;
  /** Where the event is proven: the log leaf index, or "station record". */
  proof: string;
}

/** Rows of a report, oldest first; times ISO 8601 with the offset of the station's zone `tz`. */
export function custodyRows(events: BundleCustodyEvent[], tz: string): CustodyRow[] {
  return events.map((e) => {
    const ev = e.event as Record<string, unknown>;
    let detail = "";
    if (e.kind === "link") detail = `case ${String(ev.case)}`;
    else if (e.kind === "approval") detail = `${String(ev.kind)} request ${String(ev.id)}: ${String(ev.state)}${ev.decidedBy ? ` by ${String(ev.decidedBy)}` : ""}${ev.validUntil ? ` until ${isoLocal(Number(ev.validUntil), tz)}` : ""}`;
    else if (typeof ev.details === "string" && ev.details) detail = ev.details;
    return { at: isoLocal(e.at, tz), atMs: e.at, account: e.actor, action: e.action, reason: e.reason, detail, proof: e.leaf ? `log leaf ${e.leaf.index}` : "station record" };
  });
}

/** RFC 4180 CSV of report rows, with a header line. */
export function custodyCsv(rows: (CustodyRow & { item?: string })[]): string {
  const cols = ["item", "at", "account", "action", "reason", "detail", "proof"] as const;
  const lines = [cols.join(",")];
  for (const r of rows) lines.push(cols.map((c) => csvCell(String((r as unknown as Record<string, unknown>)[c] ?? ""))).join(","));
  return lines.join("\r\n") + "\r\n";
}

const CJK_FONTS = ["/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", "/usr/share/fonts/truetype/droid/DroidSansFallback.ttf"];

async function fonts(doc: PDFDocument): Promise<{ font: PDFFont; bold: PDFFont; cjk: boolean }> {
  const file = CJK_FONTS.find((f) => existsSync(f));
  if (file) {
    try {
      const fontkit = (await import("@pdf-lib/fontkit")).default;
      doc.registerFontkit(fontkit);
      const f = await doc.embedFont(readFileSync(file), { subset: true });
      return { font: f, bold: f, cjk: true };
    } catch { /* fall back to the standard fonts below */ }
  }
  return { font: await doc.embedFont(StandardFonts.Helvetica), bold: await doc.embedFont(StandardFonts.HelveticaBold), cjk: false };
}

/** A fact of a report: its label in Chinese and in English, and its value. */
export type Fact = [zh: string, en: string, value: string];

/**
 * What the PDF says, line by line, before it is drawn: the labels in Chinese and English where the
 * PDF can draw Chinese (`cjk`), in English alone where it can't.
 */
export function custodyLines(facts: Fact[], rows: CustodyRow[], cjk: boolean): { head: string[]; note: string; events: { head: string; reason: string; detail: string }[] } {
  const both = (zh: string, en: string) => (cjk ? `${zh} ${en}` : en);
  return {
    head: facts.map(([zh, en, v]) => `${both(zh, en)}: ${v}`),
    note: cjk
      ? `共 ${rows.length} 个事件，按时间先后排列；时间为站方当地时间，注明与 UTC 的时差；“log leaf”事件已在本包的检查点中得到证明。${rows.length} event(s), oldest first, times the station's with their UTC offset; "log leaf" events are proven in the bundle's checkpoint.`
      : `${rows.length} event(s), oldest first. Account, time (the station's, its UTC offset written out) and reason of each; "log leaf" events are proven in the bundle's checkpoint.`,
    events: rows.map((r) => ({ head: `${r.at}  ${r.action}  ${both("账户", "by")} ${r.account}  (${r.proof})`, reason: `${both("事由", "reason")}: ${r.reason || "-"}`, detail: r.detail })),
  };
}

/** A PDF of one recording's custody report. */
export async function custodyPdf(title: string, facts: Fact[], rows: CustodyRow[], createdAt: number): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setTitle(title);
  doc.setCreator("evrec station");
  doc.setCreationDate(new Date(createdAt));
  doc.setModificationDate(new Date(createdAt));
  const { font, bold, cjk } = await fonts(doc);
  // Without a CJK font, characters the standard fonts lack are shown as '?': custody.json holds them exactly.
  const safe = (s: string) => (cjk ? s : s.replace(/[^\x20-\x7e\u00a0-\u00ff]/g, "?"));
  const W = 595, H = 842, M = 40;
  let page = doc.addPage([W, H]);
  let y = H - M;
  const line = (text: string, size = 9, f = font) => {
    if (y < M + size) { page = doc.addPage([W, H]); y = H - M; }
    page.drawText(safe(text), { x: M, y, size, font: f, color: rgb(0, 0, 0), maxWidth: W - 2 * M });
    y -= size + 4;
  };
  const wrap = (text: string, width: number, size: number) => {
    const out: string[] = [];
    let cur = "";
    for (const ch of safe(text)) {
      if (font.widthOfTextAtSize(cur + ch, size) > width) { out.push(cur); cur = ""; }
      cur += ch;
    }
    if (cur) out.push(cur);
    return out.length ? out : [""];
  };
  line(title, 14, bold);
  line(cjk ? "监管链报告 / Custody report" : "Custody report", 11, bold);
  y -= 4;
  const text = custodyLines(facts, rows, cjk);
  for (const f of text.head) for (const [i, l] of wrap(f, W - 2 * M, 9).entries()) line(i ? "    " + l : l);
  y -= 6;
  for (const l of wrap(text.note, W - 2 * M, 8)) line(l, 8);
  y -= 4;
  for (const e of text.events) {
    line(e.head, 9, bold);
    for (const l of wrap(e.reason, W - 2 * M - 12, 9)) { page.drawText(l, { x: M + 12, y, size: 9, font }); y -= 13; if (y < M) { page = doc.addPage([W, H]); y = H - M; } }
    if (e.detail) for (const l of wrap(e.detail, W - 2 * M - 12, 8)) { page.drawText(l, { x: M + 12, y, size: 8, font }); y -= 12; if (y < M) { page = doc.addPage([W, H]); y = H - M; } }
    y -= 3;
  }
  return doc.save({ useObjectStreams: false });
}
