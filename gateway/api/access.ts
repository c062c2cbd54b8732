// Who may retrieve which record (RULES.md §2, confidentiality and access): confidentiality levels 0 open,
// 1 internal, 2 restricted, 3 secret. An officer sees their own clips up to level 2;
// supervisors and legal reviewers their unit's subtree up to level 2, and level 3 only a
// supervisor; an admin retrieves content only up to level 1.
import type { Account } from "./accounts.js";
import type { Model } from "../model/model.js";
import type { Db } from "../store/db.js";

export type AccessDecision = { ok: true; level: number } | { ok: false; code: string; message: string };

/** May `acc` retrieve the content of recording `device/recording`? */
export async function mayRetrieve(model: Model, db: Db, acc: Account, device: string, recording: number): Promise<AccessDecision> {
  const level = await model.clipConfidentiality(device, recording);
  const deny = (code: string, message: string): AccessDecision => ({ ok: false, code, message });
  if (acc.role === "admin") return level <= 1 ? { ok: true, level } : deny("CONFIDENTIALITY", `level ${level} record: an admin retrieves content only up to level 1`);
  if (acc.role === "officer") {
    const o = await model.clipOfficer(device, recording);
    if (!o || o.badge !== acc.officer_badge) return deny("NOT_YOUR_CLIP", "an officer retrieves only clips recorded while wearing the device");
    return level <= 2 ? { ok: true, level } : deny("CONFIDENTIALITY", `level ${level} record: officers retrieve up to level 2`);
  }
  if (level >= 3 && acc.role !== "supervisor") return deny("CONFIDENTIALITY", "a level 3 (secret) record: only a supervisor may retrieve it");
  if (!acc.officer_badge) return deny("NO_UNIT_SCOPE", `account ${acc.name} is tied to no officer, so to no unit`);
  const me = await model.officer(acc.officer_badge);
  const unit = await model.clipUnit(device, recording);
  const scope = (await model.subtree(me.unitId)).map((u) => u.id);
  if (unit === null || !scope.includes(unit)) return deny("OUTSIDE_UNIT", "the record belongs to no unit in your unit's subtree");
  return { ok: true, level };
}
