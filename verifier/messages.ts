// What each finding of the offline verifier says, in English and in Chinese (zh-CN): one entry
// per message, with {name} slots its values fill. A finding carries its message's key and values,
// so the summary speaks the reader's language; the report's `detail` is the English text.
// The errors of the protocol's parsers and checks (their codes) have their Chinese here too; a
// library's own words (the ZIP reader's, the JSON parser's) are quoted as they are, marked so.
import { formatTime } from "../protocol/time.js";
import { fillIn } from "../protocol/text.js";

export type Lang = "en" | "zh-CN";

export const MESSAGES = {
  notZip: ["not a readable ZIP: {cause}", "不是可读的 ZIP 文件：{cause}"],
  verifyStopped: ["verification stopped: {cause}", "核验程序中途停止：{cause}"],
  duplicateEntries: ["entries named twice: {names}", "同名条目出现两次：{names}"],
  noManifest: ["no {manifest} or {signature}: not an evidence bundle", "缺少 {manifest} 或 {signature}：不是证据导出包"],
  notCanonical: ["not in RFC 8785 canonical form", "不是 RFC 8785 规范格式"],
  wrongType: ["type {type} version {v}: this verifier reads {want} version {wantV}", "类型 {type}、版本 {v}：本核验程序只读 {want} 版本 {wantV}"],
  fieldsMissing: ["fields missing", "缺少必需字段"],
  notKey: ["the station key is not a note verifier key: {cause}", "所给的执法记录站公钥不是有效的验证公钥：{cause}"],
  keyFromBundle: ["no --station-key given: the bundle's own key was used, so this shows the bundle is intact, not who made it; ask the station's admin for its key", "未提供 --station-key：使用了包内自带的公钥，只能证明本包内部一致，不能证明由谁导出；请向执法记录站管理员索取本站公钥"],
  keyDiffers: ["the bundle names station key {key}; checked against the key given", "本包所称的执法记录站公钥为 {key}；已按所提供的公钥核验"],
  manifestHash: ["the signature is over another manifest: bundle.json was changed after it was signed", "签名针对的是另一份清单：bundle.json 在签名后被改动"],
  manifestSig: ["the manifest's signature does not verify with the station key: {cause}", "清单签名无法用执法记录站公钥验证：{cause}"],
  badPath: ["a file path that is absolute, climbs out, or is listed twice", "文件路径为绝对路径、越出本包目录，或被重复列出"],
  unlisted: ["a file the manifest does not list", "清单未列出的文件"],
  fileMissing: ["listed in the manifest but not in the bundle", "清单列出但包内没有此文件"],
  notListed: ["the manifest refers to a file it does not list", "清单引用了它未列出的文件"],
  tooLarge: ["its size in the ZIP ({size} bytes) is beyond the manifest's ({want}): not read", "其在 ZIP 中的大小（{size} 字节）超出清单所列（{want} 字节）：未读取"],
  entryUnreadable: ["{name}: {cause}", "{name}：{cause}"],
  unreadable: ["its ZIP entry can't be read whole: {cause}", "其 ZIP 条目无法完整读取：{cause}"],
  fileHash: ["SHA-256 or size differs from the manifest's ({size} bytes)", "SHA-256 或大小与清单不符（实际 {size} 字节）"],
  checkpointSize: ["the checkpoint is of size {size}, the manifest says {want}", "检查点的日志大小为 {size}，清单称 {want}"],
  checkpointBad: ["{cause}", "检查点未通过：{cause}"],
  checkpointMissing: ["the bundle's checkpoint can't be read", "无法读取本包的检查点"],
  noCheckpoint: ["{what}: no verified checkpoint to prove it against", "{what}：没有已核验的检查点可据以证明"],
  notIncluded: ["{what} (leaf {leaf}): {cause}", "{what}（日志第 {leaf} 条）：{cause}"],
  proofRoot: ["the proof does not lead to the checkpoint's root", "包含证明推不出检查点的根哈希"],
  whatManifest: ["recording manifest", "音像记录清单"],
  whatCustody: ["custody event {action}", "监管事件 {action}"],
  anchor: ["the trust anchor is not the one the manifest names", "信任锚不是清单所指定的那一个"],
  genesisLink: ["its genesis does not bind the seal value of {prev}: a recording between them was removed or replaced", "其起始块未绑定 {prev} 的封存值：两者之间的音像记录被删除或替换"],
  duplicateRecording: ["a recording is listed twice", "同一段音像记录被列出两次"],
  wrongSize: ["a block, tag or key of the wrong size", "起始块、封存块、标签或密钥的长度不对"],
  recordingMalformed: ["{cause}", "音像记录条目格式错误：{cause}"],
  leafOther: ["the leaf is not this recording's manifest", "该日志条目不是本音像记录的清单"],
  leafBlocks: ["the logged genesis or seal block differs from the bundle's", "日志中登记的起始块或封存块与本包不同"],
  leafNote: ["the station's signed note is over another manifest", "执法记录站的签名针对的是另一份清单"],
  manifestLeaf: ["recording manifest: {cause}", "音像记录清单：{cause}"],
  stationVerdict: ["the station judged it {verdict} ({reasons})", "执法记录站判定其为“{verdict}”（{reasons}）"],
  chunksMissing: ["{path} can't be read", "无法读取 {path}"],
  chunkCount: ["{path} holds {n} chunk records, the manifest says {want}", "{path} 含 {n} 条块记录，清单称 {want} 条"],
  mediaUnreadable: ["{path} can't be read", "无法读取 {path}"],
  mediaClaims: ["{path} claims chunks {from}-{to}", "{path} 声称包含第 {from}-{to} 块"],
  noDataChunk: ["no data chunk", "没有 data 数据段"],
  wavMalformed: ["{path}: {cause}", "{path}：WAV 文件格式错误：{cause}"],
  jpegMalformed: ["{path}: {cause}", "{path}：JPEG 文件格式错误：{cause}"],
  mediaShort: ["{path} ends inside chunk {seq}", "{path} 在第 {seq} 块中间结束"],
  mediaLength: ["{path} holds {size} bytes of media, its chunks' headers say {want}", "{path} 含媒体 {size} 字节，各块头所记为 {want} 字节"],
  c2paState: ["{path}: {state}{failures}", "{path}：C2PA 清单{state}{failures}"],
  c2paInvalid: ["{state}", "无效"],
  c2paValid: ["{state}", "有效，但未链到本站的信任锚"],
  c2paAssertion: ["{path}: the C2PA manifest names another recording, seal value, log index or range", "{path}：C2PA 清单所记的音像记录、封存值、日志序号或块范围与本音像记录不符"],
  c2paAction: ["{path}: no c2pa.created action", "{path}：C2PA 清单没有 c2pa.created（拍摄生成）动作"],
  chunkMediaMissing: ["chunk {seq}'s media is not in the bundle", "第 {seq} 块的媒体不在本包中"],
  chunkMediaOutside: ["chunk {seq}'s media is outside the disclosed range {from}-{to}", "第 {seq} 块的媒体超出所披露的范围 {from}-{to}"],
  chunkOrder: ["record {i} of {path} is chunk {seq}: chunks are out of order or missing", "{path} 的第 {i} 条记录是第 {seq} 块：块的顺序被打乱或有块缺失"],
  chainNote: ["{at}{detail}{what}", "{at}{detail}{what}"],
  atChunk: ["chunk {seq}: ", "第 {seq} 块："],
  noteDetail: ["{detail}; ", ""],
  gapRefused: ["no chunk the checks accept there: missing from the bundle, or refused above (chunk {seqs} refused)", "此处没有通过核验的块：或不在本包中，或已在上文被判不合格（第 {seqs} 块不合格）"],
  gapRanges: ["{detail}; ", "缺少第 {detail} 块；"],
  sealCount: ["the seal says {n} chunks, the bundle holds {count}", "封存块记为 {n} 块，本包含 {count} 块"],
  custodyLater: ["event {action} at {at} is listed after a later one", "{at} 的事件 {action} 列在更晚的事件之后"],
  linkOther: ["link event {id} names another recording, time or account", "关联事件 {id} 所记的音像记录、时间或账户与本音像记录不符"],
  linkOrder: ["link event {id} is out of order", "关联事件 {id} 顺序错误"],
  auditHash: ["audit entry {seq} does not hash to its recorded hash: it was changed", "审计条目 {seq} 的哈希与所记哈希不符：已被改动"],
  auditOther: ["audit entry {seq} names another recording, time or account", "审计条目 {seq} 所记的音像记录、时间或账户与本音像记录不符"],
  auditOrder: ["audit entry {seq} is out of order", "审计条目 {seq} 顺序错误"],
  eventBad: ["{kind} event: {cause}", "{kind}事件：{cause}"],
  // Custody event kinds, and the actions of links (an audit entry's action is its code, as in the audit log).
  link: ["link", "关联案件"],
  unlink: ["unlink", "解除案件关联"],
  audit: ["audit", "审计"],
  // Verdicts, as the station's signed manifest leaf gives them.
  verified: ["verified", "已验证"],
  incomplete: ["incomplete", "不完整"],
  failed: ["failed", "未通过"],
  approval: ["approval", "审批"],
  leafNotEvent: ["the log's leaf {leaf} does not commit to this {action} event", "日志第 {leaf} 条并非对此 {action} 事件的承诺"],
  linkLeafOrder: ["link events entered the log in another order", "关联事件进入日志的顺序与所列不同"],
  auditLeafOrder: ["audit events entered the log in another order", "审计事件进入日志的顺序与所列不同"],
  leafBad: ["leaf {leaf}: {cause}", "日志第 {leaf} 条：{cause}"],
  exportUnlogged: ["this export's own audit entry is not among the recording's custody events proven in the log", "本次导出自身的审计条目不在该音像记录已在日志中证明的监管事件之中"],
  // The chain's findings, by the protocol's reason code.
  TAG: ["the chunk's tag does not verify under the recording's key: its header or tag was changed", "块标签无法用本音像记录的密钥验证：块头或标签被改动"],
  SEAL_TAG: ["the seal's tag does not verify: the seal block or tag was changed", "封存标签无法验证：封存块或标签被改动"],
  PAYLOAD_HASH: ["the media does not hash to the payload hash in its tagged header: the media was changed", "媒体的哈希与带标签块头中的哈希不符：媒体被改动"],
  PAYLOAD_LENGTH: ["the media's length differs from its tagged header's", "媒体长度与带标签块头所记不符"],
  CHAIN_LINK: ["the header does not link to the chunk before it", "块头未链接到前一块"],
  GAP: ["chunks are missing", "有块缺失"],
  SEAL_LINK: ["the seal's last chain value differs from the last chunk's", "封存块的最后链值与最后一块不符"],
  SEAL_BYTES: ["the seal's byte total differs from the chunks'", "封存块记录的字节总数与各块之和不符"],
  GENESIS_FIELD: ["the genesis names another device or recording", "起始块所记的设备或音像记录与本音像记录不符"],
  MISSING_START: ["no start the chain confirms", "没有被哈希链确认的起始块"],
  HEADER_FIELD: ["a header names another device or recording, a seq of 0, or flags not allowed in a chunk", "块头所记的设备或音像记录不符、序号为 0，或含有块不允许的标志"],
  CASE_TAG_MISMATCH: ["the case tag beside a genesis or seal block does not hash to the block's case tag hash", "起始块或封存块旁的案件标记与块中所记的哈希不符"],
  START_UNCONFIRMED: ["a start that no tagged message of the device binds", "该起始块未被设备任何带标签的消息绑定"],
  EQUIVOCATION: ["two different, validly tagged messages for the same chunk (or two seals)", "同一块（或封存）有两个不同且标签均有效的版本"],
  SEAL_FIELD: ["the seal names another device or recording, has unknown flags, or its case tag hash does not match", "封存块所记的设备或音像记录不符、含未知标志，或其案件标记哈希不符"],
  SEQ_AFTER_SEAL: ["a chunk with a seq above the seal's last seq", "有块的序号大于封存块所记的最后序号"],
  MISSING_SEAL: ["no seal", "没有封存块"],
  LOST_ON_DEVICE: ["the device no longer holds the missing parts", "设备上已不再保存缺失的部分"],
  otherReason: ["{code}", "协议原因代码 {code}"],
  // The protocol's errors, by code: the English is the error's own message, the Chinese filled in from the values it carries.
  NOTE_BAD_SIGNATURE: ["{raw}", "签名无法验证"],
  NOTE_UNVERIFIED: ["{raw}", "没有所给公钥的有效签名"],
  NOTE_MALFORMED: ["{raw}", "签名文件格式错误"],
  NOTE_KEY: ["{raw}", "公钥格式错误（应为 名称+密钥编号+base64 公钥）"],
  CHECKPOINT_MALFORMED: ["{raw}", "检查点格式错误"],
  CHECKPOINT_ORIGIN: ["{raw}", "检查点属于另一个日志，而非所给公钥的日志"],
  WITNESS_QUORUM: ["{raw}", "要求 {quorum} 个见证方联署，可验证的 {n} 个；缺少 {missing} 的联署"],
  COSIGNATURE: ["{raw}", "见证方联署格式错误"],
  PROOF_RANGE: ["{raw}", "包含证明的日志序号超出检查点范围"],
  LEAF_INVALID: ["{raw}", "日志条目格式错误"],
  raw: ["{raw}", "原文：{raw}"],
} as const satisfies Record<string, readonly [string, string]>;

export type MessageKey = keyof typeof MESSAGES;
/** A value in a message: text, a number, an instant (rendered in the station's time), or another message. */
export type Arg = string | number | { time: number } | Message;
export interface Message { key: MessageKey; args?: Record<string, Arg> }

/** Where a message is read: its language and the station's time zone (null: not recorded, UTC). */
export interface Reader { lang: Lang; timeZone: string | null }

/** An error that says what it is with a message. */
export class Said extends Error {
  constructor(readonly said: Message, readonly code = "ERROR") { super(render(said, { lang: "en", timeZone: null })); }
}

/** A custody event's kind or action, or a verdict: in words where this table has them, else its code. */
export function word(w: string): Arg {
  return ["link", "unlink", "audit", "approval", "verified", "incomplete", "failed"].includes(w) ? { key: w as MessageKey } : w;
}

/** What a caught error says: its own message, the protocol's words for its code (with the values it carries), or its text quoted. */
export function cause(e: unknown): Message {
  if (e instanceof Said) return e.said;
  const code = String((e as { code?: string }).code ?? "");
  const raw = String((e as Error)?.message ?? e).replace(/^[A-Z_]+: /, "");
  const values = (e as { values?: Record<string, string | number> } | null)?.values;
  return { key: code in MESSAGES && MESSAGES[code as MessageKey][0] === "{raw}" ? (code as MessageKey) : "raw", args: { ...values, raw } };
}

export function render(m: Message, r: Reader): string {
  const t: string = MESSAGES[m.key][r.lang === "en" ? 0 : 1];
  return fillIn<Exclude<Arg, string | number>>(t, m.args, (v) => ("time" in v ? formatTime(v.time, r.timeZone) : render(v, r)));
}
