/**
 * Names of JavaScript functions a response calls (JSONP callbacks, the iframe document's
 * delivery and sign-off functions). They are written into scripts, so only plain member
 * paths are accepted.
 */

/**
 * A JavaScript identifier path in ASCII: `a`, `_cometd_jsonp_3`, `$x`,
 * `dojo.io.script.jsonp_dojoIoScript3._jsonpCallback`. No leading digit or dot, no `..`,
 * no trailing dot; nothing that could close the call or start a statement.
 */
const CALLBACK = /^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*$/;

/** Whether `name` is a function name a transport will write into a script. */
export function isValidCallback(name: string, maxLength = 128): boolean {
  return name.length > 0 && name.length <= maxLength && CALLBACK.test(name);
}
