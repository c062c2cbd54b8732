// The admin CLI's words, in English and Chinese (station staff read Chinese first).
import { table } from "./output.js";
import type { Lang } from "./output.js";
import { ACTIVITY_POLICY, CASE_CATEGORIES } from "./model/model.js";

const kinds = () => Object.entries(ACTIVITY_POLICY).map(([k, p]) => `${k} (${p})`).join(", ");

export function usage(lang: Lang, evidenceUsage: string): string {
  if (lang === "zh") return `用法: npm run admin -- <命令> [--data-dir 目录] [--db postgres://…] [--cluster 文件] [--token-file 文件] [--json | --csv] [--lang zh|en]

以一个账户的身份操作: 默认读取数据目录中的管理员令牌文件 (admin.token), 或用 --token-file 指定另一个账户的令牌。
每一项变更和每一次调阅都记入审计日志, 署名为该账户。时间按站点时区显示; --json 和 --csv 供程序读取。元数据存于 PostgreSQL 的网关, 用启动它时的同一 --db (或 EVREC_DB)。集群区域用其办公室的配置文件 --cluster 文件: 同一数据库, 媒体取自 JetStream (scrub、export 亦然)。

命令:
  device add <ID> --root-out <文件> [--kind body|fixed] [--unit 单位]   登记设备; 根密钥写入文件 (0600), 不显示在屏幕上
  device list                         设备、状态、最后联系时间和最后状态报告
  device revoke|lost|retire|activate <ID> --reason 原因   按允许的转换改变设备状态
  device unit <ID> <单位> --reason 原因    把设备配发给单位 (计入该单位的配备)
  recording list [设备] [--limit N [--after 设备/记录]]   音像记录及其判定 (最新的在前; --limit: 只列出一页, 最多 1000 条)
  account add <名称> <角色> [--badge 警号]   角色: admin, supervisor, legal_reviewer, officer (除 admin 外都需 --badge)
  account list | disable <名称> --reason R | enable <名称> --reason R
  account password <名称>                  设置网页控制台登录密码 (从标准输入读取一行, 至少 10 个字符)
  token issue <名称>                  为账户签发新令牌, 仅显示一次
  token revoke <名称> --reason R      吊销账户的全部令牌
  unit add <名称> <级别> [--parent ID]   级别: region, city, county, agency
  unit list | unit ratio <ID> <N|default> --reason R   单位自己的配备比例 (繁忙单位 1:3, 其他 1:5)
  officer add <警号> <姓名> --unit ID --role enforcement|legal_reviewer|supervisor [--cert 证号 --valid-from YYYY-MM-DD --valid-to YYYY-MM-DD]
  officer list | edit <警号> [--name N] [--role R] [--cert C --valid-from D --valid-to D] --reason R
  officer transfer <警号> --unit ID --reason R | deactivate|reactivate <警号> --reason R
  case add <案号> --unit ID --category 类别 --activity 活动 --from 时间 --to 时间 [--confidentiality 0-3] [--policy FULL|KEY_STEPS|OPTIONAL] [--room 房间]
                         类别: ${CASE_CATEGORIES.join(", ")}
                         活动: ${kinds()}
                         时间: ISO 8601, 如 2026-03-01T09:30+08:00; 不带时区即站点当地时间
  case list
  assign <设备> (--badge 警号 | --room 房间) [--force --reason R]   领用设备 (检查最后的状态报告: 电量低于下限则拒绝, 无电量读数不拒绝; 存储, 时钟, 告警)
  return <设备>                       归还设备
  link|unlink <设备> <音像记录> <案号> --reason R
  ratios [--unit ID]     各单位的设备配备和法制审核人员比例
  stats --from 时间 --to 时间 [--by unit|officer]
  coverage               FULL 和 KEY_STEPS 案件的音像记录覆盖情况
  integrity              按判定统计音像记录
  alarm list | alarm clear <类型> <对象> --reason R
  audit verify | audit list [--actor A] [--action X] [--target T] [--limit N]
${evidenceUsage}`;
  return `Usage: npm run admin -- <command> [--data-dir DIR] [--db postgres://…] [--cluster FILE] [--token-file FILE] [--json | --csv] [--lang zh|en]

Acts as an account: the admin token file in the data directory (admin.token) by default, or another
account's token with --token-file. Every change and every retrieval is in the audit log under that
account. Times are the station's local time; --json and --csv are for programs. A gateway that keeps
its metadata in PostgreSQL is reached with the same --db (or EVREC_DB) it was started with. A region
on a NATS cluster is reached with its office's file, --cluster FILE: the same database, its media
in JetStream (scrub and export read it there).

Commands:
  device add <ID> --root-out <FILE> [--kind body|fixed] [--unit UNIT]
                         register a device; its root secret goes to FILE (mode 0600), never to the screen
  device list            devices with state, last contact and last Status
  device revoke|lost|retire|activate <ID> --reason R   change a device's state along the allowed transitions
  device unit <ID> <UNIT> --reason R   issue a device to a unit (the fleet it counts in)
  recording list [DEVICE] [--limit N [--after DEVICE/RECORDING]]   recordings with their verdicts, newest first (--limit: one page, at most 1000)
  account add <NAME> <ROLE> [--badge B]   ROLE: admin, supervisor, legal_reviewer, officer (all but admin need --badge)
  account list | disable <NAME> --reason R | enable <NAME> --reason R
  account password <NAME>                 set the web console password (one line read from standard input, at least 10 characters)
  token issue <NAME>     a new API token for an account, shown once (only its hash is kept)
  token revoke <NAME> --reason R   revoke every token of an account
  unit add <NAME> <LEVEL> [--parent ID]   LEVEL: region, city, county, agency
  unit list | unit ratio <ID> <N|default> --reason R   a unit's own fleet ratio (busy units 1:3, others 1:5)
  officer add <BADGE> <NAME> --unit ID --role enforcement|legal_reviewer|supervisor [--cert NO --valid-from YYYY-MM-DD --valid-to YYYY-MM-DD]
  officer list | edit <BADGE> [--name N] [--role R] [--cert C --valid-from D --valid-to D] --reason R
  officer transfer <BADGE> --unit ID --reason R | deactivate|reactivate <BADGE> --reason R
  case add <NUMBER> --unit ID --category C --activity KIND --from TIME --to TIME [--confidentiality 0-3] [--policy FULL|KEY_STEPS|OPTIONAL] [--room ROOM]
                         categories: ${CASE_CATEGORIES.join(", ")}
                         activity kinds: ${kinds()}
                         TIME: ISO 8601, e.g. 2026-03-01T09:30+08:00; without an offset, the station's local time
  case list
  assign <DEVICE> (--badge B | --room R) [--force --reason R]   check a device out (its last Status is checked: a battery below the minimum refuses, no battery reading does not; storage, clock, alarm)
  return <DEVICE>                           check it back in
  link|unlink <DEVICE> <RECORDING> <CASE> --reason R
  ratios [--unit ID]     fleet and legal-reviewer ratios per unit, rolled up the tree
  stats --from TIME --to TIME [--by unit|officer]   recordings, hours, verdicts, upload delay
  coverage               FULL and KEY_STEPS cases: coverage by verified clips, with gaps
  integrity              recordings by verdict
  alarm list | alarm clear <KIND> <SUBJECT> --reason R
  audit verify | audit list [--actor A] [--action X] [--target T] [--limit N]
${evidenceUsage}`;
}

const ZH: Record<string, string> = {
  verified: "已验证", incomplete: "不完整", failed: "失败", empty: "空",
  yes: "是", no: "否", none: "(无)", approved: "已批准", denied: "已驳回", pending: "待审批", expired: "已过期",
  device: "设备", recording: "音像记录", verdict: "判定", chunks: "块数", size: "大小", start: "开始", ended: "结束原因", STOPPED: "民警停止", COMMAND: "站端指令", BATTERY_LOW: "电量低", STORAGE_FULL: "存储满", REBOOT: "重启中断", FAULT: "故障", UNSTATED: "未说明", NO_RECORDING: "无音像记录", duration: "时长", officer: "民警", cases: "案件",
  storage: "存储", retention: "保留", state: "状态", kind: "类型", unit: "单位", lastSeen: "最后联系", battery: "电量", free: "剩余空间", clock: "时钟偏差", firmware: "固件",
  name: "名称", role: "角色", badge: "警号", created: "创建", disabled: "停用", tokens: "有效令牌",
  id: "编号", parent: "上级", level: "级别", ratio: "比例", cert: "执法证", validTo: "有效至", active: "在岗",
  number: "案号", category: "类别", activity: "活动", policy: "要求", window: "执法时段", confidentiality: "密级",
  officers: "执法人员", required: "应配", devices: "已配", shortfall: "缺口", reviewersRequired: "应配法制审核", reviewers: "法制审核", compliant: "达标",
  covered: "覆盖", gaps: "缺口时段", satisfied: "满足", verifiedClips: "已验证音像记录",
  recordings: "音像记录数", hours: "时长", medianUploadDelay: "上传延迟中位数",
  subject: "对象", detail: "详情", count: "次数", first: "首次", last: "最近",
  seq: "序号", at: "时间", actor: "账户", action: "操作", target: "对象", reason: "原因",
  total: "合计", finalIncomplete: "最终不完整", interrupted: "中断后封存", fullCoverage: "全程音像记录案件覆盖",
  item: "记录", account: "账户", proof: "证明", requester: "申请人", items: "记录", decidedBy: "决定人", validUntil: "有效至", addedBy: "指定人", added: "指定时间",
  keepUntil: "保留至", eraseAt: "删除日期", "while it applies": "适用期间", sealValue: "封存值", retainedUntil: "保留至", deleted: "删除时间",
  recordingLeaf: "音像记录日志条目", deletionLeaf: "删除日志条目", bytes: "字节数", station: "本站",
};

/** Alarm kinds in Chinese; a Chinese table gives the word and the kind's code (what alarm clear takes). */
const ALARM_ZH: Record<string, string> = {
  EQUIVOCATION: "设备发送了同一块的两个版本", FAILED_VERDICT: "记录核验未通过", DISK_LOW: "磁盘空间不足", CERT_EXPIRED: "执法证已过期",
  DEVICE_SILENT: "设备失联", DEVICE_ALARM: "设备报警", UPLOAD_OVERDUE: "上传超时", MEDIA_SYNC_FAILED: "媒体写盘失败",
  PURGE_DUE: "保留期到期待删除", PARTITION_UNSERVED: "分区无人处理", STORAGE_CORRUPT: "存储损坏", FORGED_MESSAGE: "伪造消息",
  RECORDING_MISSING: "记录缺失", CLIP_TIME_SUSPECT: "记录时间可疑", CASE_TAG_OUT_OF_SCOPE: "案件标记超出范围",
  WITNESS_AHEAD: "见证方日志超前", WITNESS_BAD_COSIGNATURE: "见证方联署无效", WITNESS_INCONSISTENT: "见证方应答不一致",
};

/** An alarm's kind as a table shows it: in Chinese, the word and its code; in English, the code. */
export function alarmKind(lang: Lang, kind: string): string {
  return lang === "zh" && ALARM_ZH[kind] ? `${ALARM_ZH[kind]} ${kind}` : kind;
}

/** A word (a column name, a verdict) in the CLI's language. */
export function word(lang: Lang, w: string): string {
  return lang === "zh" ? ZH[w] ?? w : w;
}

/** Rows as the table people read, its column names and yes/no in the CLI's language; "(none)" when there are none. */
export function peopleTable(lang: Lang, rows: object[]): string {
  if (!rows.length) return word(lang, "none");
  const headers: Record<string, string> = {};
  for (const k of Object.keys(rows[0])) headers[k] = word(lang, k);
  // A yes or no in words of the language too.
  const cells = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "boolean" ? word(lang, v ? "yes" : "no") : v])));
  return table(cells, headers);
}

const MSG: Record<string, [string, string]> = {
  registered: ["device %0 registered; root secret written to %1 (mode 0600). MQTT username: %0", "设备 %0 已登记; 根密钥已写入 %1 (权限 0600)。MQTT 用户名: %0"],
  state: ["device %0: %1 (was %2)", "设备 %0: %1 (原为 %2)"],
  unitSet: ["device %0 issued to unit %1", "设备 %0 已配发给单位 %1"],
  passwordSet: ["account %0: console password set (%1 session(s) ended); sign in at the gateway's HTTP address", "账户 %0: 控制台密码已设置 (结束 %1 个会话); 在网关 HTTP 地址登录"],
  accountAdded: ["account %0 (%1) created; issue its token with: npm run admin -- token issue %0", "账户 %0 (%1) 已创建; 签发令牌: npm run admin -- token issue %0"],
  shownOnce: ["(shown once: store it now)", "(仅显示一次: 请立即保存)"],
  tokensRevoked: ["%1 token(s) of %0 revoked", "已吊销 %0 的 %1 个令牌"],
  accountDisabled: ["account %0 disabled", "账户 %0 已停用"],
  accountEnabled: ["account %0 enabled", "账户 %0 已启用"],
  unitAdded: ["unit %0 %1 (%2)", "单位 %0 %1 (%2)"],
  ratioSet: ["unit %0: fleet ratio %1", "单位 %0: 配备比例 %1"],
  officerAdded: ["officer %0 added", "民警 %0 已添加"],
  officerChanged: ["officer %0: %1", "民警 %0: %1"],
  caseAdded: ["case %0 added (%1)", "案件 %0 已添加 (%1)"],
  checkedOut: ["device %0 checked out", "设备 %0 已领用"],
  returned: ["device %0 returned", "设备 %0 已归还"],
  linked: ["%0 linked to case %1", "%0 已关联案件 %1"],
  unlinked: ["%0 unlinked from case %1", "%0 已解除与案件 %1 的关联"],
  cleared: ["alarm %0 %1 cleared", "告警 %0 %1 已清除"],
  warning: ["warning: %0", "警告: %0"],
  times: ["times in %0", "时间为 %0 当地时间"],
  morePages: ["more after %0: %1", "%0 之后还有: %1"],
  auditHead: ["audit head %0", "审计日志头 %0"],
  exportProgress: ["export: %0/%1 recordings, %2 MiB%3", "导出: %0/%1 段记录, %2 MiB%3"],
  exportNow: [", now %0", ", 正在导出 %0"],
  exported: ["export %0: %1 recording(s), %2 MiB in %3 s, written to %4; check it with: npm run verify -- %4 --station-key \"%5\"", "导出 %0: %1 段记录, %2 MiB, 用时 %3 秒, 已写入 %4; 核验: npm run verify -- %4 --station-key \"%5\" --lang zh"],
  requested: ["approval request %0 (%1) for %2: pending; an approver runs: npm run admin -- approval approve %0 --reason \"...\"", "审批申请 %0 (%1), 对象 %2: 待审批; 审批人执行: npm run admin -- approval approve %0 --reason \"...\""],
  decided: ["approval %0: %1", "审批 %0: %1"],
  decidedUntil: ["approval %0: %1 until %2 (%3)", "审批 %0: %1, 有效至 %2 (%3)"],
  noApprovers: ["(none: an admin designates them with approval approver add ACCOUNT --reason R)", "(无: 由管理员用 approval approver add 账户 --reason 原因 指定)"],
  approverAdded: ["%0: may approve releases", "%0: 可审批对外提供"],
  approverRemoved: ["%0: no longer approves releases", "%0: 不再审批对外提供"],
  ratioLine: ["ratio 1:%0 (units may set their own); audit head %1", "比例 1:%0 (单位可自定); 审计日志头 %1"],
};

/** A message in the CLI's language, %0 %1 ... filled in. */
export function msg(lang: Lang, key: string, ...args: (string | number)[]): string {
  const m = MSG[key][lang === "zh" ? 1 : 0];
  return m.replace(/%(\d)/g, (_, i) => String(args[Number(i)]));
}

/** Options any command takes. */
export const GLOBAL = ["--data-dir", "--db", "--cluster", "--token-file", "--json", "--lang", "--help", "-h"];

/**
 * Each command's own options, as --help (usage, above) gives them (alternatives split at |); a listing takes --csv.
 * An option given to a command that does not take it is refused: it would be ignored.
 */
export const COMMAND_OPTIONS: Record<string, string[]> = {
  "device add": ["--root-out", "--kind", "--unit"], "device list": ["--csv"], "device revoke|lost|retire|activate|provision": ["--reason"], "device unit": ["--reason"],
  "recording list": ["--limit", "--after", "--csv"],
  "account add": ["--badge"], "account list": ["--csv"], "account password": [], "account disable|enable": ["--reason"],
  "token issue": [], "token revoke": ["--reason"],
  "unit add": ["--parent"], "unit list": ["--csv"], "unit ratio": ["--reason"],
  "officer add": ["--unit", "--role", "--cert", "--valid-from", "--valid-to"], "officer list": ["--csv"], "officer edit": ["--name", "--role", "--cert", "--valid-from", "--valid-to", "--reason"],
  "officer transfer": ["--unit", "--reason"], "officer deactivate|reactivate": ["--reason"],
  "case add": ["--unit", "--category", "--activity", "--from", "--to", "--confidentiality", "--policy", "--room"], "case list": ["--csv"],
  "assign": ["--badge", "--room", "--force", "--reason"], "return": [], "link|unlink": ["--reason"],
  "ratios": ["--unit", "--csv"], "stats": ["--from", "--to", "--by", "--csv"], "coverage": ["--csv"], "integrity": ["--csv"],
  "alarm list": ["--csv"], "alarm clear": ["--reason"], "audit verify": [], "audit list": ["--actor", "--action", "--target", "--limit", "--csv"],
  "station-key": [], "x509 show|uninstall": [], "x509 csr": ["--out", "--subject"], "x509 install": ["--cert", "--anchor", "--key"],
  "scrub": ["--device", "--recording"], "log status|sync": ["--witnesses"], "log verify|proof": [],
  "retention": ["--due", "--csv"], "hold|release|undelete": ["--reason"], "purge": ["--dry-run"], "tombstones": ["--csv"],
  "export": ["--recording", "--from", "--to", "--case", "--reason", "--out", "--grant"],
  "approval request": ["--export", "--view", "--recording", "--case", "--reason", "--hours"], "approval list": ["--pending", "--csv"],
  "approval approve": ["--reason", "--hours"], "approval deny": ["--reason"], "approval approvers": ["--csv"], "approval approver": ["--reason"],
  "custody": ["--recording", "--account", "--reason", "--csv"],
};

/** A command's own options by its words ("device add", "scrub"); undefined for words that are no command. */
export function optionsOf(noun: string, verb: string | undefined): string[] | undefined {
  for (const [key, opts] of Object.entries(COMMAND_OPTIONS)) {
    const [n, v] = key.split(" ");
    if (!n.split("|").includes(noun)) continue;
    if (v === undefined || (verb !== undefined && v.split("|").includes(verb))) return opts;
  }
  return undefined;
}
