# Usage: python3 scripts/fix-lock-platforms.py package-lock.json   (after any npm install here)
# Adds the non-linux-x64 @nomicfoundation/edr optional platform packages that the
# sandbox's registry mirror does not serve (so npm dropped them from the lock file),
# which makes `npm ci` refuse the lock file as out of sync.
import json, sys
p = sys.argv[1]
raw = open(p).read()
L = json.loads(raw)
assert json.dumps(L, indent=2, ensure_ascii=False) + "\n" == raw, "round-trip mismatch"
pk = L["packages"]
ver = pk["node_modules/@nomicfoundation/edr"]["version"]
plats = {
    "darwin-arm64": ("darwin", "arm64", None),
    "darwin-x64": ("darwin", "x64", None),
    "linux-arm64-gnu": ("linux", "arm64", "glibc"),
    "linux-arm64-musl": ("linux", "arm64", "musl"),
    "win32-x64-msvc": ("win32", "x64", None),
}
for name, (os_, cpu, libc) in plats.items():
    key = f"node_modules/@nomicfoundation/edr-{name}"
    if key in pk: continue
    e = {"version": ver, "cpu": [cpu], "dev": True}
    if libc: e["libc"] = [libc]
    e.update({"license": "MIT", "optional": True, "os": [os_], "engines": {"node": ">= 22"}})
    pk[key] = e
# Keep npm's own key order; put the new entries right after the edr package itself.
anchor = "node_modules/@nomicfoundation/edr"
new = [k for k in pk if k.startswith(anchor + "-")]
order = []
for k in pk:
    if k in new: continue
    order.append(k)
    if k == anchor: order.extend(sorted(new))
L["packages"] = {k: pk[k] for k in order}
open(p, "w").write(json.dumps(L, indent=2, ensure_ascii=False) + "\n")
