import * as path from "node:path";
import { PACKAGE_ROOT } from "../../src/runtime/version.js";

/** The checkout's root, whether tests run from dist/ or from source. */
export const REPO_ROOT = PACKAGE_ROOT;
export const FIXTURES = path.join(REPO_ROOT, "test", "fixtures");
export const SNNDT_BIN = path.join(REPO_ROOT, "bin", "snndt");
