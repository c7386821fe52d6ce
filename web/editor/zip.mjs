// "Download my lab": the submission folder as one zip, written by fflate.
//
// `scripts/setup.sh build` bundles this file (and fflate, pinned in
// web/editor/package-lock.json) with esbuild into web/editor/build/zip.js,
// which trunk copies to dist/editor/. The page imports it only when the
// student clicks "Download my lab", so the page does not carry a zip
// writer until then.
//
//   const bytes = zipFiles(paths, texts);   // Uint8Array, the .zip file
//
// `paths[i]` (`Task01/server.py`) holds `texts[i]` as UTF-8. Files are
// stored without compression: a few KB of text, and a student can open
// every file even with the simplest unzip.

import { strToU8, zipSync } from "fflate";

export function zipFiles(paths, texts) {
  if (paths.length !== texts.length) {
    throw new Error(`${paths.length} names for ${texts.length} files`);
  }
  const files = {};
  for (let i = 0; i < paths.length; i++) {
    files[paths[i]] = strToU8(texts[i]);
  }
  return zipSync(files, { level: 0 });
}
