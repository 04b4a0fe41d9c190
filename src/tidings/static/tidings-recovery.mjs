// tidings-recovery as an ES module: import { attach } from "/js/tidings-recovery.mjs".
// The implementation is the plain script next to this file (see its header for the API).
import "./tidings-recovery.js";

const TidingsRecovery = globalThis.TidingsRecovery;
export const attach = TidingsRecovery.attach;
export default TidingsRecovery;
