// What a refusal's reason code means, in Chinese: the one catalogue the console and the admin CLI
// say it from. The gateway's own message is English and names the device, the unit, the date; a
// Chinese reader gets the code's meaning with those words beside it. Codes not here are said with
// the gateway's words alone.

/** Reason codes of refusals people meet, and their meaning in Chinese. */
export const REFUSALS_ZH: Readonly<Record<string, string>> = {
  REASON_REQUIRED: "需要说明理由（至少 2 个汉字或 3 个字符）", BAD_INPUT: "输入不符合要求", NO_CHANGE: "没有需要变更的内容：已是该状态",
  OUTSIDE_UNIT: "不在您所在单位及其下级单位的范围内", ROLE_FORBIDDEN: "您的角色无权进行此操作", NOT_YOUR_CLIP: "只能查看本人佩戴记录仪的音像记录",
  CONFIDENTIALITY: "该记录的密级超出您的权限", NO_UNIT_SCOPE: "该账户未关联执法人员，因此没有所属单位",
  BAD_TIME: "时间格式不正确", BAD_WINDOW: "时段的结束须晚于开始", BAD_DATE: "日期格式不正确", BAD_CURSOR: "翻页位置无效: 请从第一页重新查询",
  UNKNOWN_DEVICE: "本站没有该设备", UNKNOWN_RECORDING: "本站没有该音像记录", UNKNOWN_ACCOUNT: "本站没有该账户", UNKNOWN_APPROVAL: "没有该审批申请",
  OFFICER_NOT_FOUND: "没有该执法人员", CASE_NOT_FOUND: "没有该案件", UNIT_NOT_FOUND: "没有该单位", ALARM_NOT_FOUND: "没有该告警（可能已解除）",
  PURGED: "该音像记录已按保存期限删除", STORAGE_CORRUPT: "存储的媒体已损坏（巡检发现）", EMPTY_RECORDING: "该音像记录没有媒体",
  ALREADY_LINKED: "已关联该案件", NOT_LINKED: "未关联该案件", DEVICE_BUSY: "设备已被领用", NOT_CHECKED_OUT: "设备未被领用",
  DEVICE_NOT_USABLE: "设备当前不可使用（已吊销、挂失或退役）", OFFICER_INACTIVE: "该执法人员已停用", CERT_INVALID: "执法证件无效或已过期",
  ASSIGNMENT_OVERLAP: "与已有的领用记录时间重叠", DUPLICATE_CASE: "案号已存在", DUPLICATE_BADGE: "警号已存在",
  SELF_APPROVAL: "申请须由他人审批", NOT_RELEASE_APPROVER: "您不是指定的对外提供审批人", NOT_SUPERVISOR: "只有本单位的主管可以审批调阅",
  NOT_PENDING: "该申请已处理", GRANT_EXPIRED: "批准已过期，请重新申请", GRANT_SCOPE: "批准不包含该记录", NO_GRANT: "没有有效的批准",
  CASE_EMPTY: "该案件没有关联的音像记录", NO_ITEMS: "没有选择记录", BAD_HOURS: "有效时长不正确",
  SIGNIN_FAILED: "账户或密码错误", SIGNIN_LOCKED: "登录失败次数过多，请稍后再试", SESSION_ENDED: "会话已结束，请重新登录",
  AUTH_REQUIRED: "请先登录", ACCOUNT_DISABLED: "账户已停用", WEAK_PASSWORD: "密码过于简单", LAST_ADMIN: "这是最后一个启用的管理员账户",
  DB_UNREACHABLE: "网关的数据库暂时不可用，请稍后重试", DB_LOCKED: "网关的数据库正忙，请稍后重试", DB_FULL: "网关的磁盘已满",
};

/** A refusal's code said in Chinese, or null for a code not in the catalogue. */
export function refusalZh(code: string): string | null {
  return Object.hasOwn(REFUSALS_ZH, code) ? REFUSALS_ZH[code] : null;
}

/** A refusal as a Chinese reader is told it: the code's meaning, the gateway's own words beside it in parentheses; the words alone for a code not listed. */
export function refusalTextZh(code: string, message: string): string {
  const zh = refusalZh(code);
  return zh ? `${zh} (${message})` : message;
}
