// HMAC-SHA256 test cases 1-7 of RFC 4231 (section 4), as data. Case 5 checks the first 16 bytes.
const rep = (h: string, n: number) => h.repeat(n);
const ascii = (s: string) => Buffer.from(s, "latin1").toString("hex");

export const hmacCases = [
  { case: 1, key: rep("0b", 20), data: ascii("Hi There"), mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
  { case: 2, key: ascii("Jefe"), data: ascii("what do ya want for nothing?"), mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
  { case: 3, key: rep("aa", 20), data: rep("dd", 50), mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
  { case: 4, key: "0102030405060708090a0b0c0d0e0f10111213141516171819", data: rep("cd", 50), mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
  { case: 5, key: rep("0c", 20), data: ascii("Test With Truncation"), mac: "a3b6167473100ee06e0c796c2955552b", truncate: 16 },
  { case: 6, key: rep("aa", 131), data: ascii("Test Using Larger Than Block-Size Key - Hash Key First"), mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
  { case: 7, key: rep("aa", 131), data: ascii("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."), mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
];
