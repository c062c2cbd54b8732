// What an alarm says, as a key and its values, so that the admin CLI and the console say it in
// English or in Chinese. The station stores the key and values beside the English words (the log
// and the API's `detail` keep those); an alarm raised before, or raised with words only, has no key
// and is shown in the words it was stored with.
import { fillIn } from "./text.js";

/** A value in an alarm's words: text, a number, an instant (in the station's time), or a word of the table below. */
export type AlarmArg = string | number | { time: number } | { word: AlarmWord };

/** An alarm's words as the station stored them: a key of ALARM_DETAILS and its values. */
export interface AlarmSaid { key: AlarmDetailKey; args: Record<string, AlarmArg> }

export const ALARM_DETAILS = {
  silentNever: ["{state} device silent for over {seconds} s: never connected (registered {registered})", "{state}设备超过 {seconds} 秒无联系：从未连接（登记于 {registered}）"],
  silentSince: ["{state} device silent for over {seconds} s: last seen {seen}", "{state}设备超过 {seconds} 秒无联系：最后上线 {seen}"],
  uploadOverdue: ["ended {ended} ({hours} h ago), {chunks} chunk(s) stored{noSeal}: not wholly uploaded within {deadline} h", "结束于 {ended}（{hours} 小时前），已存 {chunks} 块{noSeal}：未在 {deadline} 小时内全部上传"],
  certExpired: ["{name} ({badge}) holds {device}; certificate valid to {validTo}", "{name}（{badge}）持有 {device}；执法证有效期至 {validTo}"],
  diskLow: ["{free} MiB free, threshold {min} MiB: not acknowledging", "剩余 {free} MiB，低于阈值 {min} MiB：暂停确认"],
  mediaSyncFailed: ["{n} media sync(s) refused by the disk (a file's fdatasync or a directory's fsync failed); the media journal writes their bytes again and syncs them again; check the disk",
    "磁盘拒绝了 {n} 次媒体同步（文件的 fdatasync 或目录的 fsync 失败）；媒体日志会重新写入并同步这些数据；请检查磁盘"],
  storedSealCorrupt: ["the stored seal block no longer matches its tag: a storage fault, not the device's; run admin scrub", "存储的封存块与其标签不再相符：是存储故障，不是设备的问题；请运行 admin scrub"],
  storedChunkCorrupt: ["stored chunk {seq} no longer matches its tag: a storage fault, not the device's; run admin scrub", "存储的第 {seq} 块与其标签不再相符：是存储故障，不是设备的问题；请运行 admin scrub"],
  forgedMessage: ["a message naming this recording was refused ({code}): its tag does not vouch for it, so it changes nothing", "一条指向本记录的消息被拒收（{code}）：其标签不能证明它来自设备，因此不改变任何内容"],
  forgedChunk: ["a message naming this recording was refused ({code}, seq {seq}): its tag does not vouch for it, so it changes nothing", "一条指向本记录第 {seq} 块的消息被拒收（{code}）：其标签不能证明它来自设备，因此不改变任何内容"],
  failedAtSeq: ["seq {seq}: {codes}", "第 {seq} 块：{codes}"],
  recordingsMissing: ["recordings {ranges} never received, and the device no longer holds them", "记录 {ranges} 从未收到，设备上也已不再保存"],
  lastSealDiffers: ["the device's last seal value differs from the stored seal", "设备所报的最后封存值与已存的封存块不同"],
  deviceAlarm: ["device reports an alarm: {error} (storage free {free} B, queue {queue} chunks)", "设备报告告警：{error}（存储剩余 {free} 字节，待传 {queue} 块）"],
} as const satisfies Record<string, readonly [string, string]>;

export type AlarmDetailKey = keyof typeof ALARM_DETAILS;

const WORDS = {
  active: ["active", "在用"], lost: ["lost", "遗失"], noSeal: [", no seal", "，无封存块"], none: ["", ""],
} as const satisfies Record<string, readonly [string, string]>;

export type AlarmWord = keyof typeof WORDS;

/** Whether a value read back (a JSON column) is an alarm's key and values this catalogue knows. */
export function isAlarmSaid(v: unknown): v is AlarmSaid {
  return typeof v === "object" && v !== null && Object.hasOwn(ALARM_DETAILS, (v as AlarmSaid).key) && typeof (v as AlarmSaid).args === "object" && (v as AlarmSaid).args !== null;
}

/**
 * An alarm's words in a language, its instants in `time` (the station's ISO 8601 with its offset,
 * or UTC's `Z` form when no zone is given: what the English `detail` is stored with).
 */
export function alarmText(said: AlarmSaid, lang: "en" | "zh", time: (ms: number) => string = (ms) => new Date(ms).toISOString()): string {
  const i = lang === "en" ? 0 : 1;
  return fillIn<Exclude<AlarmArg, string | number>>(ALARM_DETAILS[said.key][i], said.args, (v) => ("time" in v ? time(v.time) : Object.hasOwn(WORDS, v.word) ? WORDS[v.word][i] : String(v.word)));
}
