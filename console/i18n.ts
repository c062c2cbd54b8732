// The console's words in Chinese (the default) and English, and times in the station's zone.
import { refusalZh } from "../protocol/refusals-zh.js";

export type Lang = "zh-CN" | "en";

const W = {
  title: ["执法记录站点控制台", "Station console"], titleRegion: ["执法记录区域控制台", "Region console"],
  skip: ["跳到主要内容", "Skip to main content"],
  signIn: ["登录", "Sign in"],
  signOut: ["退出登录", "Sign out"],
  account: ["账户名", "Account name"],
  password: ["密码", "Password"],
  signInHelp: ["使用管理员为您设置的账户名和密码登录。密码由管理员通过 npm run admin -- account password 名称 设置。", "Sign in with the account name and password your admin set (npm run admin -- account password NAME)."],
  language: ["语言", "Language"],
  switchTo: ["English", "中文"],
  signedInAs: ["当前账户", "Signed in as"],
  stationTime: ["站点时区", "Station time zone"],
  nav: ["主导航", "Main navigation"],
  fleet: ["设备总览", "Fleet"], devices: ["设备管理", "Devices"], people: ["人员与单位", "Officers and units"], cases: ["案件", "Cases"],
  clips: ["音像记录", "Clips"], approvals: ["审批", "Approvals"], ratios: ["配备比例", "Ratios"], stats: ["统计", "Statistics"],
  alarms: ["告警", "Alarms"], audit: ["审计日志", "Audit"], evidence: ["证据导出与核验", "Evidence"],
  role_admin: ["管理员", "admin"], role_supervisor: ["督察", "supervisor"], role_legal_reviewer: ["法制审核员", "legal reviewer"], role_officer: ["执法人员", "officer"], role_enforcement: ["执法", "enforcement"],
  loading: ["载入中…", "Loading…"], none: ["暂无", "None"], refresh: ["刷新", "Refresh"], cancel: ["取消", "Cancel"], confirm: ["确定", "Confirm"],
  reason: ["理由", "Reason"], reasonHelp: ["说明理由（至少 2 个汉字或 3 个字符），将写入审计日志。", "Say why (at least 3 characters, or 2 Chinese ones); it goes into the audit log."],
  error: ["错误", "Error"], done: ["已完成", "Done"], all: ["全部", "All"], filter: ["筛选", "Filter"], live: ["实时", "Live"], liveOff: ["实时连接中断，正在重连…", "Live updates lost, reconnecting…"],
  device: ["设备", "Device"], unit: ["单位", "Unit"], state: ["状态", "State"], online: ["在线", "Online"], offline: ["离线", "Offline"], connection: ["连接", "Connection"],
  recordingNow: ["录制", "Recording"], battery: ["电量", "Battery"], queue: ["待传", "Queue"], flashFree: ["存储剩余", "Storage free"], lastSeen: ["最后上线", "Last seen"],
  clockOffset: ["时钟偏差", "Clock offset"], alarmCount: ["告警", "Alarms"], yes: ["是", "yes"], no: ["否", "no"], recYes: ["录制中", "recording"], recNo: ["—", "—"],
  st_provisioned: ["已登记", "provisioned"], st_active: ["在用", "active"], st_lost: ["遗失", "lost"], st_retired: ["报废", "retired"], st_revoked: ["已吊销", "revoked"],
  devicesShown: ["显示 %0 / %1 台设备，%2 台在线", "%0 of %1 devices shown, %2 online"], anyUnit: ["所有单位", "All units"], anyState: ["所有状态", "All states"],
  noDevices: ["您的范围内没有设备", "No devices in your scope"],
  onlineOnly: ["仅在线", "Online only"], offlineOnly: ["仅离线", "Offline only"], noUnit: ["未配发", "not issued"],
  assign: ["领用", "Check out"], returnDevice: ["归还", "Return"], revoke: ["吊销", "Revoke"], register: ["登记新设备", "Register a device"], badge: ["警号", "Badge"],
  assignTitle: ["将设备 %0 领用给执法人员", "Check device %0 out to an officer"], revokeTitle: ["吊销设备 %0", "Revoke device %0"], returned: ["设备 %0 已归还", "Device %0 returned"],
  assigned: ["设备 %0 已领用给 %1", "Device %0 checked out to %1"], revoked: ["设备 %0 已吊销", "Device %0 revoked"], kind: ["类型", "Kind"], kind_body: ["执法记录仪", "body-worn"], kind_fixed: ["固定", "fixed"],
  registered: ["已登记 %0。设备根密钥已下载为文件，只显示这一次，请交给配置工具。", "Registered %0. Its root secret was downloaded as a file, shown this once: hand it to the provisioning tool."],
  deviceId: ["设备编号", "Device id"], unitTree: ["单位结构", "Unit tree"], officers: ["执法人员", "Officers"], reviewers: ["法制审核员", "Legal reviewers"], name: ["姓名", "Name"],
  role: ["岗位", "Role"], certificate: ["执法证", "Certificate"], validTo: ["有效期至", "Valid to"], expiringSoon: ["即将到期", "expires soon"], expired: ["已过期", "expired"], active: ["在岗", "On duty"],
  level_region: ["省级", "region"], level_city: ["市级", "city"], level_county: ["县级", "county"], level_agency: ["执法机构", "agency"],
  caseNo: ["案件编号", "Case"], category: ["类别", "Category"], activity: ["执法活动", "Activity"], policy: ["录制要求", "Recording policy"], window: ["执法时段", "Enforcement window"],
  coverage: ["覆盖", "Coverage"], gaps: ["缺口", "Gaps"], satisfied: ["达标", "met"], notSatisfied: ["未达标", "not met"], confidentiality: ["密级", "Confidentiality"],
  act_seizure: ["查封扣押", "seizure"], act_sealing: ["查封", "sealing"], act_forced_demolition: ["强制拆除", "forced demolition"], act_personal_liberty: ["限制人身自由", "personal liberty"],
  act_life_health: ["涉及生命健康", "life and health"], act_major_property: ["重大财产权益", "major property"], act_confiscated_goods_disposal: ["罚没物品处置", "disposal of confiscated goods"],
  act_on_site_enforcement: ["现场执法", "on-site enforcement"], act_evidence_collection: ["调查取证", "evidence collection"], act_hearing: ["听证", "hearing"], act_service_by_leaving: ["留置送达", "service by leaving"],
  act_service_by_notice: ["公告送达", "service by notice"], act_on_site_inspection: ["现场检查", "on-site inspection"], act_routine_patrol: ["日常巡查", "routine patrol"], act_consultation: ["咨询", "consultation"], act_other: ["其他", "other"],
  cat_penalty: ["行政处罚", "penalty"], cat_compulsion: ["行政强制", "compulsion"], cat_inspection: ["行政检查", "inspection"], cat_expropriation: ["行政征收", "expropriation"], cat_licensing: ["行政许可", "licensing"],
  suggestedClips: ["建议关联", "Suggested"], linkClipTitle: ["将 %0 关联到案件 %1", "Link %0 to case %1"], linkClipHelp: ["该记录与案件同单位（或下级单位），且时间与执法时段重叠。", "The clip is of the case's unit (or a unit below it) and overlaps its enforcement window."],
  overlap: ["重叠", "overlap"], linkHere: ["关联到本案", "Link to this case"], linkShort: ["关联", "Link"], tagMatches: ["设备案件标记一致", "device case tag matches"],
  pol_FULL: ["全程录制", "full process"], pol_KEY_STEPS: ["关键环节", "key steps"], pol_OPTIONAL: ["可选", "optional"],
  conf0: ["公开", "open"], conf1: ["内部", "internal"], conf2: ["受限", "restricted"], conf3: ["秘密", "secret"], linkedClips: ["关联记录", "Linked clips"], verifiedClips: ["已核验记录", "verified clips"],
  recording: ["记录", "Recording"], verdict: ["核验结论", "Verdict"], chunks: ["分段", "Chunks"], size: ["大小", "Size"], start: ["开始", "Start"], end: ["结束", "End"], officer: ["执法人员", "Officer"],
  v_verified: ["已核验", "verified"], v_incomplete: ["不完整", "incomplete"], v_failed: ["核验失败", "failed"], v_empty: ["空记录", "empty"], v_open: ["录制中", "open"],
  open: ["打开", "Open"], openTitle: ["打开记录 %0", "Open clip %0"], openHelp: ["查看记录内容需说明理由，将写入审计日志。", "Viewing a record needs a reason; it is written to the audit log."],
  reasons: ["原因", "Reasons"], noReasons: ["无异常", "no findings"], timeline: ["分段时间轴", "Chunk timeline"], preEvent: ["预录", "pre-event"], marker: ["标记", "marker"], interrupted: ["中断", "interrupted"],
  play: ["播放", "Play"], playTitle: ["播放记录 %0", "Play clip %0"], playHelp: ["播放会下载记录内容，须说明理由并审计。", "Playing downloads the record's content: it needs a reason and is audited."],
  link: ["关联案件", "Link to case"], unlink: ["取消关联", "Unlink"], linkTitle: ["将 %0 关联到案件", "Link %0 to a case"], unlinkTitle: ["取消 %0 与案件 %1 的关联", "Unlink %0 from case %1"],
  suggestions: ["建议关联", "Suggested cases"], exportClip: ["申请导出", "Request export"], exportTitle: ["申请导出 %0", "Request an export of %0"], exportCaseTitle: ["申请导出案件 %0 的记录", "Request an export of case %0's recordings"],
  exportCaseHelp: ["申请导出本案件当前关联的全部记录，由指定的审批人审批。", "The request names every recording linked to the case now; a designated release approver decides it."], requested: ["已提交申请 #%0，等待审批", "Request #%0 sent, waiting for approval"],
  anyOfficer: ["所有执法人员", "All officers"], clearFilters: ["清除筛选", "Clear filters"], clipsShown: ["共 %0 条记录", "%0 clips"], clipsShownMore: ["已显示 %0 条记录, 还有更多", "%0 clips shown, more to come"], moreClips: ["显示更多", "More clips"],
  linked: ["已关联", "Linked"], unlinked: ["已取消关联", "Unlinked"], back: ["返回", "Back"], caseCol: ["案件", "Cases"], audio: ["音频", "Audio"],
  pending: ["待审批", "Waiting for a decision"], mine: ["我的申请", "My requests"], decided: ["已处理", "Decided"], approve: ["批准", "Approve"], deny: ["驳回", "Deny"],
  requester: ["申请人", "Requested by"], requestKind: ["类型", "Kind"], k_export: ["导出", "export"], k_view: ["越权查看", "view"], items: ["对象", "Records"], requestedAt: ["申请时间", "Requested"],
  validUntil: ["有效至", "Valid until"], a_pending: ["待审批", "pending"], a_approved: ["已批准", "approved"], a_denied: ["已驳回", "denied"], a_expired: ["已过期", "expired"], approveTitle: ["批准申请 #%0", "Approve request #%0"], denyTitle: ["驳回申请 #%0", "Deny request #%0"],
  decidedBy: ["处理人", "Decided by"], ratioTitle: ["执法记录仪配备（每 %0 名执法人员 1 套）与法制审核员配备", "Recorders (1 per %0 officers) and legal reviewers"], required: ["应配", "Required"], counted: ["实配", "Counted"],
  shortfall: ["缺口", "Shortfall"], recorders: ["执法记录仪", "Recorders"], ownUnit: ["本单位", "own"], subtree: ["含下级", "with sub-units"], compliant: ["达标", "compliant"], notCompliant: ["不达标", "short"],
  ownCountedRequired: ["本单位（实配 / 应配）", "Own unit (counted / required)"], subtreeShortfall: ["含下级单位缺口", "Shortfall with sub-units"], recordedTime: ["记录时长", "Recorded time"],
  unassignedDevices: ["未配发到单位的在用设备：%0 台（不计入任何单位）", "Active devices issued to no unit: %0 (they count nowhere)"],
  from: ["起", "From"], to: ["止", "To"], by: ["统计口径", "Group by"], byUnit: ["按单位", "by unit"], byOfficer: ["按执法人员", "by officer"], show: ["查询", "Show"], csv: ["下载 CSV", "Download CSV"],
  recordings: ["记录数", "Recordings"], hours: ["时长（小时）", "Hours"], uploadDelay: ["上传延迟（中位）", "Upload delay (median)"],
  fullCoverage: ["全程录制覆盖率", "FULL coverage"], nCases: ["%0 件", "%0 cases"],
  fullCoverageHelp: ["全程录制覆盖率：统计期内执法时段的全程录制案件（按单位为本单位案件，按执法人员为其记录所关联的案件），其执法时段被已核验记录覆盖的比例。", "FULL coverage: of the full-process cases whose enforcement window falls in the period (a unit's own cases; an officer's, the cases their clips are linked to), the share of the windows covered by verified clips."], integrity: ["完整性", "Integrity"],
  kindCol: ["类型", "Kind"], subject: ["对象", "Subject"], detail: ["详情", "Detail"], count: ["次数", "Count"], since: ["首次", "First"], last: ["最近", "Last"], clear: ["解除", "Clear"],
  clearTitle: ["解除告警 %0 %1", "Clear alarm %0 %1"], cleared: ["告警已解除", "Alarm cleared"], noAlarms: ["没有未解除的告警", "No open alarms"], alarmsOf: ["设备 %0 的告警", "Alarms of device %0"], allAlarms: ["显示全部告警", "Show every alarm"],
  actor: ["操作人", "Account"], action: ["操作", "Action"], target: ["对象", "Target"], at: ["时间", "Time"], verifyLog: ["核验审计日志", "Verify the audit log"],
  logOk: ["审计日志完整：%0 条，链头 %1", "Audit log intact: %0 entries, head %1"], logBad: ["审计日志有问题：%0", "Audit log problems: %0"], details: ["详情", "Details"],
  exportGrants: ["导出授权", "Export grants"], exportsMade: ["已导出的证据包", "Exports made"], exportedBy: ["导出人", "Exported by"], madeAt: ["导出时间", "Made"],
  downloadAgain: ["再次下载", "Download again"], againTitle: ["再次下载证据包 %0", "Download bundle %0 again"], againHelp: ["再次下载须说明理由，授权仍须有效，并将逐条写入审计日志。下载的是当时导出的同一文件。", "Downloading again needs a reason and a grant still in force, and is audited per record. It is the very file exported then."],
  ex_writing: ["写入中", "writing"], ex_done: ["已完成", "done"], ex_failed: ["失败", "failed"], downloaded: ["已下载 %0", "Downloaded %0"], makeExport: ["导出并下载", "Export and download"], grant: ["授权", "Grant"], verifier: ["离线核验证据包", "Verify a bundle offline"],
  verifierHelp: ["将证据包（ZIP）拖到此处或选择文件。核验在本浏览器内完成，不上传任何内容，检查项与 npm run verify 相同。", "Drop an evidence bundle (ZIP) here or choose the file. It is checked in this browser, nothing is uploaded, with the same checks as npm run verify."],
  chooseFile: ["选择证据包", "Choose a bundle"], stationKey: ["站点验证公钥（已填入本站公钥；核验他站的证据包时请替换）", "Station verifier key (this station's is filled in; replace it to check another station's bundle)"], verifying: ["核验中…", "Verifying…"],
  pass: ["通过", "PASS"], fail: ["不通过", "FAIL"], warn: ["警告", "WARN"], exported: ["已导出 %0", "Exported %0"],
  signInFailed: ["账户名或密码错误", "Wrong account name or password"], forbiddenPage: ["您的角色无权查看此页面。", "Your role may not see this page."],
  deviceClock: ["设备时钟", "device clock"],
  unreachable: ["网关未应答：请检查网络连接后重试", "The gateway did not answer: check the connection and try again"],
  notFound: ["页面不存在", "No such page"], periodHelp: ["日期为站点当地日期", "Dates are the station's local dates"], loadMore: ["显示更多", "Show more"],
  checkCol: ["检查项", "Check"], custody: ["监管链记录", "Custody report"], showCustody: ["显示监管链记录", "Show the custody report"], proof: ["证明", "Proof"],
  system: ["系统状态", "System"], sysStation: ["本站网关：设备直接连接本进程", "Station gateway: devices connect to this process"],
  sysRegion: ["区域办公节点：设备连接 NATS 集群，由工作节点接收", "Region office: devices connect to the NATS cluster, taken in by its workers"], sysReadAt: ["读取于 %0", "read at %0"],
  sysCluster: ["集群", "Cluster"], sysNats: ["NATS 服务器", "NATS servers"], sysOnline: ["在线设备", "Devices online"],
  sysOnlineUnknown: ["未知（未配置 natsMonitor）", "unknown (natsMonitor not set)"], sysPartitions: ["分区", "Partitions"],
  sysAllServed: ["%0 个分区均有工作节点", "all %0 served"], sysUnservedN: ["%0 / %1 个分区无工作节点", "%0 of %1 unserved"],
  sysWorkers: ["工作节点", "Workers"], sysHolds: ["分区 %0", "partitions %0"], sysStandby: ["备用", "standing by"], sysNoWorkers: ["无", "none"],
  sysPartition: ["分区", "Partition"], sysWorker: ["工作节点", "Worker"], sysSince: ["自", "Since"],
  sysUnserved: ["无工作节点：设备数据在 JetStream 中等待，均未确认", "none: its devices' messages wait in JetStream, none acknowledged"],
  sysIngest: ["接收", "Ingest"], sysMqttPort: ["MQTT 端口", "MQTT port"], sysDisk: ["数据盘", "Data disk"], sysDiskOk: ["空间充足", "enough space"],
  sysDiskLow: ["空间不足：暂停确认", "too low: nothing acknowledged"], sysDiskFree: ["可用 %0", "%0 free"], sysDiskMin: ["最低 %0", "minimum %0"],
  sysConnections: ["设备连接", "Device connections"], sysConnectionsN: ["%0 个，其中 %1 个暂停读取，待写入 %2", "%0, %1 paused, %2 waiting to be written"],
  sysIn_chunks: ["已提交数据块", "Chunks committed"], sysIn_duplicates: ["重复数据块", "Duplicates"], sysIn_refused: ["拒收", "Refused"], sysIn_failed: ["核验失败", "Failed verification"],
  sysIn_forged: ["伪造", "Forged"], sysIn_acks: ["已发确认", "Acks sent"], sysIn_paused: ["暂停读取次数", "Times a device was paused"],
  sysRefusals: ["拒收（按原因代码）", "Refusals by reason code"], sysCode: ["原因代码", "Reason code"], sysTimes: ["次数", "Times"],
  sysScrub: ["存储巡检", "Storage scrub"], sysScrubRunning: ["巡检中", "running"], sysScrubIdle: ["空闲", "idle"], sysScrubPasses: ["已完成轮次", "Passes"],
  sysScrubRecordings: ["已检查音像记录", "Recordings checked"], sysScrubDamaged: ["发现损坏", "Damaged found"],
} as const satisfies Record<string, readonly [string, string]>;

export type Key = keyof typeof W;

let lang: Lang = "zh-CN";
export const getLang = (): Lang => lang;
export function setLang(l: Lang): void {
  lang = l;
  document.documentElement.lang = l;
  try { localStorage.setItem("evrec-lang", l); } catch { /* private mode: the choice lasts this page */ }
}
export function initialLang(): Lang {
  try { return localStorage.getItem("evrec-lang") === "en" ? "en" : "zh-CN"; } catch { return "zh-CN"; }
}

/** A refusal as the page says it: its code's meaning in Chinese (null in English, or for a code not listed). */
export function refusal(code: string): string | null {
  return lang === "en" ? null : refusalZh(code);
}

/** A word in the current language, %0, %1... filled in. */
export function t(k: Key, ...args: (string | number)[]): string {
  const s: string = W[k][lang === "en" ? 1 : 0];
  return args.length ? s.replace(/%(\d)/g, (_, i) => String(args[Number(i)])) : s;
}
/** A word by a key made at run time (a state, a verdict), or the raw value. */
export function tk(prefix: string, v: string | number): string {
  const k = (prefix + v) as Key;
  return k in W ? t(k) : String(v);
}

let zone = "Asia/Shanghai";
export const setZone = (z: string) => { zone = z; };
export const getZone = () => zone;

/** A time in the station's zone, as people there write it. */
export function when(ms: number | null | undefined, withSeconds = false): string {
  if (ms === null || ms === undefined) return "—";
  return formatter(lang, withSeconds ? "s" : "m").format(ms);
}
/** A local date (YYYY-MM-DD) in the station's zone. */
export function localDate(ms: number): string {
  return formatter("en-CA", "d").format(ms);
}
// Making an Intl.DateTimeFormat costs far more than using one: a fleet page formats thousands of times.
const formats = new Map<string, Intl.DateTimeFormat>();
function formatter(l: string, kind: "s" | "m" | "d"): Intl.DateTimeFormat {
  const key = `${l}|${zone}|${kind}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(l, kind === "d" ? { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }
      : { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", ...(kind === "s" ? { second: "2-digit" } : {}), hourCycle: "h23" });
    formats.set(key, f);
  }
  return f;
}
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(1)} GiB`;
}
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const s = Math.round(Math.abs(ms) / 1000);
  const sign = ms < 0 ? "−" : "";
  if (s < 60) return lang === "en" ? `${sign}${s} s` : `${sign}${s} 秒`;
  if (s < 3600) return lang === "en" ? `${sign}${Math.floor(s / 60)} min ${s % 60} s` : `${sign}${Math.floor(s / 60)} 分 ${s % 60} 秒`;
  return lang === "en" ? `${sign}${(s / 3600).toFixed(1)} h` : `${sign}${(s / 3600).toFixed(1)} 小时`;
}

/** A device's clock offset: milliseconds when small, else as a duration. */
export function offset(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return Math.abs(ms) < 1000 ? `${ms} ${lang === "en" ? "ms" : "毫秒"}` : duration(ms);
}
