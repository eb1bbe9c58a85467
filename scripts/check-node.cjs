#!/usr/bin/env node
// preinstall of 402zk, here and in every project that installs it: refuse Node older than
// 22.13 at install time. npm only warns about `engines` (and `engine-strict` is the
// consumer's setting, not ours); on an older Node the install would succeed and then fail
// at run time ("Cannot find native binding", "No such built-in module: node:sqlite").
// Plain CommonJS with no syntax newer than ES2015 and no dependencies, so that it runs, and
// says why, on any Node.
"use strict";

const REQUIRED = [22, 13, 0];

function parse(v) {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(String(v));
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function atLeast(have, want) {
  for (let i = 0; i < 3; i++) {
    if (have[i] !== want[i]) return have[i] > want[i];
  }
  return true;
}

const version = process.version;
const have = parse(version);
if (!have || !atLeast(have, REQUIRED)) {
  process.stderr.write(
    "402zk needs Node >= " +
      REQUIRED[0] +
      "." +
      REQUIRED[1] +
      " (you have " +
      version +
      "): it uses node:sqlite and native bindings built for Node 22.\n" +
      "Install Node 22 (e.g. `nvm install 22`, or https://nodejs.org) and run the install again.\n",
  );
  process.exit(1);
}
