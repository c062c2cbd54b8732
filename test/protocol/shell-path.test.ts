// Where a path typed on a command line points: the folder it was typed in, also when npm runs the
// tool in the project's directory.
import { describe, expect, it } from "vitest";
import { argPath, shellDir } from "../../protocol/shell-path.js";

const project = "/srv/evrec";
const npm = { INIT_CWD: "/home/admin/cases", npm_package_json: `${project}/package.json` };

describe("a command line's paths", () => {
  it("are where npm was typed when npm runs the tool as the project's script", () => {
    expect(argPath("case.zip", npm, project)).toBe("/home/admin/cases/case.zip");
    expect(argPath("../keys/lee.token", npm, project)).toBe("/home/admin/keys/lee.token");
    expect(argPath("/etc/evrec/tls.crt", npm, project)).toBe("/etc/evrec/tls.crt");
  });

  it("are the working directory's without npm, and for a process a tool started elsewhere under npm", () => {
    expect(shellDir({}, "/home/admin")).toBe("/home/admin");
    expect(argPath("case.zip", {}, "/home/admin")).toBe("/home/admin/case.zip");
    // The simulator or the tests under npm start a tool in a directory of their own: that one counts.
    expect(shellDir(npm, "/tmp/evrec-sim-1")).toBe("/tmp/evrec-sim-1");
  });
});
