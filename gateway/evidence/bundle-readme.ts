// The README.txt of every export bundle, in Chinese and English: what the bundle is and how to
// check it without the station (docs/EVIDENCE.md says the same at length).
import { formatTime } from "../../protocol/time.js";

export function bundleReadme(o: { id: string; station: string; verifierKey: string; anchorSha256: string | null; createdAt: number; timeZone: string; by: string; reason: string; recordings: string[] }): string {
  const when = `${formatTime(o.createdAt, o.timeZone)} (${o.timeZone})`;
  return `证据导出包 / Evidence export bundle
====================================

包编号 Bundle id: ${o.id}
执法记录站 Station: ${o.station}
导出时间 Exported: ${when}
导出人 Exported by: ${o.by}
事由 Reason: ${o.reason}
记录 Recordings: ${o.recordings.join(", ")}

一、如何核验（中文）
--------------------
本包可在不连接执法记录站、不使用其数据库的情况下离线核验。
1. 向执法记录站管理员（不要从本包或网站）索取本站的验证公钥（"note verifier key"，形如
   ${o.verifierKey.replace(/\+[^+]+$/, "+...")}）；如有见证方（检察院、法院等），也索取其公钥。
2. 使用本站提供的单文件核验程序 evrec-verify.mjs（任何装有 Node.js 20 或更高版本的电脑均可，无需安装）：
     node evrec-verify.mjs 本文件.zip --station-key "<本站验证公钥>" [--witness "<见证方公钥>"] [--lang zh]
3. 程序逐项输出“通过 / 失败”：文件哈希、链、设备标签、音像记录之间的起始链接、封存、清单签名、检查点签名、
   透明日志包含证明、监管链顺序、C2PA。任何一项失败即退出码非零。
4. 音频为 WAV 文件，内嵌 C2PA 清单（由本站证书签名，信任锚为 station/c2pa-anchor.pem，
   其 SHA-256 指纹 ${o.anchorSha256 ?? "(无)"} 写在已签名的 bundle.json 中）。任何 C2PA 工具均可读取。
   C2PA 清单不含 RFC 3161 时间戳：读取工具按证书有效期判断签名，证书过期后会显示“无效”或“不可信”。
   这不说明内容被改动：本包中的透明日志检查点（log/checkpoint）由本站签名，并可由见证方联署，
   它证明该音像记录的清单在检查点的时间之前已登记在公开日志中，起到时间戳的作用。
5. 片段导出（excerpt）只包含所选时间段的媒体，但包含整段音像记录的全部块头和封存，
   核验程序据此证明片段出自已登记的原始音像记录，而不披露其余内容。

二、How to verify (English)
---------------------------
This bundle can be checked offline, without the station or its database.
1. Ask the station's administrator (not this bundle, not a web site) for the station's note
   verifier key (${o.verifierKey.replace(/\+[^+]+$/, "+...")}), and for the keys of any witnesses
   (a procuratorate, a court) whose cosignatures you require.
2. Run the single-file verifier evrec-verify.mjs with any Node.js 20 or later, nothing to install:
     node evrec-verify.mjs this-file.zip --station-key "<station verifier key>" [--witness "<witness key>"] [--lang en]
3. It prints PASS or FAIL for each check: file hashes, chain, device tags, genesis links between
   recordings, seal, manifest signature, checkpoint signature, log inclusion, custody order, C2PA;
   then a summary. It exits non-zero on any FAIL.
4. Audio is WAV with an embedded C2PA manifest signed by the station's certificate; its trust
   anchor is station/c2pa-anchor.pem, whose SHA-256 (${o.anchorSha256 ?? "none"}) is in the signed
   bundle.json. Any C2PA reader opens it. The manifests carry no RFC 3161 timestamp, so a reader judges
   the signature by the certificate's dates: once the certificate has expired a reader may call it
   invalid or untrusted. That says nothing about the content: the transparency log checkpoint in this
   bundle (log/checkpoint), signed by the station and possibly cosigned by witnesses, shows that the
   recording's manifest was in the public log before the checkpoint was made; it stands in for a timestamp.
5. An excerpt holds only the chosen range's media but every chunk header and the seal of the whole
   recording: the verifier proves the excerpt comes from the logged original without disclosing the rest.

Files: bundle.json (the manifest, RFC 8785 canonical JSON), bundle.sig (the station's signature over it),
log/checkpoint, station/*.pem, and per recording recordings/<device>/<n>/: chunks.bin (each chunk's
128-byte header and 32-byte tag), the media, custody.json and custody.pdf.
`;
}
