// Where a path typed on a command line points: the directory it was typed in. `npm run NAME --
// ...` (and `npm start`) runs the package's script in the package's directory, wherever the
// person stood; npm says where that was in INIT_CWD. Every command-line tool of this package (the
// gateway, the admin CLI, the verifier, the provisioning tool, the simulator, the witness)
// resolves the paths it is given here, so `npm run admin -- export ... --out case.zip` typed in a
// case folder writes case.zip there; so do the gateway's EVREC_* variables that name a file or a
// directory, typed in the same shell. Defaults (./data, dist/...) stay the package's own. Node only.
import { dirname, resolve } from "node:path";

/**
 * The directory relative paths on this process's command line are taken from: npm's INIT_CWD when
 * npm started this process as one of the package's scripts (it runs in the package's directory),
 * else the working directory.
 */
export function shellDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const init = env.INIT_CWD, pkg = env.npm_package_json;
  return init && pkg && dirname(pkg) === cwd ? init : cwd;
}

/** A path from the command line, absolute: relative to the directory it was typed in (shellDir). */
export function argPath(path: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  return resolve(shellDir(env, cwd), path);
}
