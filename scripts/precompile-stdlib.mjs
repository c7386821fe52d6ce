// Adds compiled bytecode (.pyc) beside every module of Pyodide's standard
// library zip, so the page's Python starts about three times faster.
//
//   node scripts/precompile-stdlib.mjs pyodide/314.0.7
//
// Pyodide ships the library as source only, and Python cannot write its
// bytecode back into a zip: every worker would compile each module it
// imports at start, on every Run. The bytecode is made by the same Pyodide
// (so it matches its CPython exactly), as unchecked hash-based .pyc files:
// the source stays beside them for tracebacks, and nothing compares dates.
// Run by scripts/setup.sh build, once, after unpacking the tarball.

import fs from "node:fs";
import path from "node:path";

const dir = path.resolve(process.argv[2] ?? "");
const zip = path.join(dir, "python_stdlib.zip");
if (!fs.existsSync(zip)) {
  console.error(`precompile-stdlib: no ${zip}`);
  process.exit(1);
}
const { loadPyodide } = await import(path.join(dir, "pyodide.mjs"));
const pyodide = await loadPyodide({ indexURL: dir + path.sep });
pyodide.FS.writeFile("/tmp/source.zip", fs.readFileSync(zip));
const compiled = pyodide.runPython(`
import importlib._bootstrap_external as external
import importlib.util
import runpy
import zipfile

# Where the library is mounted, so tracebacks name the files as usual.
base = runpy.__file__.rsplit("/", 1)[0]
count = 0
with zipfile.ZipFile("/tmp/source.zip") as source, \\
        zipfile.ZipFile("/tmp/compiled.zip", "w", zipfile.ZIP_DEFLATED) as out:
    names = set(source.namelist())
    for info in source.infolist():
        data = source.read(info)
        out.writestr(info, data)
        pyc = info.filename[:-3] + ".pyc"
        if not info.filename.endswith(".py") or pyc in names:
            continue
        try:
            code = compile(data, f"{base}/{info.filename}", "exec", dont_inherit=True)
        except SyntaxError:
            continue  # test data that is not Python on purpose
        out.writestr(pyc, external._code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False))
        count += 1
count
`);
const temporary = zip + ".tmp";
fs.writeFileSync(temporary, pyodide.FS.readFile("/tmp/compiled.zip"));
fs.renameSync(temporary, zip);
console.log(`precompile-stdlib: ${compiled} modules compiled into ${path.relative(process.cwd(), zip)}`);
